//! Operators' edits of an image (`PATCH /api/v1/images/{id}`), applied over what detection
//! found: the scan's result stays as found, the edits are kept apart (in the store's
//! `image_meta` table) and laid over it wherever an image is shown or booted.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Image;
use crate::distro::Method;

/// How to boot an image, when the operator overrides detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MethodOverride {
    /// The ISO's kernel and initrds (the recipe must name a kernel).
    Kernel,
    /// The whole ISO as a SAN disk.
    Sanboot,
    /// Windows PE through wimboot.
    Wimboot,
    /// The whole ISO in RAM through syslinux's memdisk (BIOS clients only).
    Memdisk,
}

/// The edits of one image. Every field unset means "as detected".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ImageMeta {
    /// Free text shown beside the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `false` hides it from the menu; assigned machines still boot it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public: Option<bool>,
    /// Menu folders instead of the ISO's folders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<Vec<String>>,
    /// Boot method instead of the detected one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<MethodOverride>,
    /// Kernel command line instead of the detected one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmdline: Option<String>,
    /// Appended to the kernel command line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_args: Option<String>,
    /// The unattended-install template machines booting it get (unless theirs or their
    /// group's says otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
}

impl ImageMeta {
    /// Whether the menu lists it.
    pub fn is_public(&self) -> bool {
        self.public.unwrap_or(true)
    }

    /// Whether nothing is edited.
    pub fn is_empty(&self) -> bool {
        *self == ImageMeta::default()
    }

    /// Why these edits cannot apply to `image`, if they cannot.
    pub fn check(&self, image: &Image) -> Result<(), String> {
        for text in [&self.description, &self.cmdline, &self.extra_args]
            .into_iter()
            .flatten()
        {
            if text.len() > 4096 || text.chars().any(|c| c.is_control()) {
                return Err("texts are at most 4096 characters, without control characters".into());
            }
        }
        if let Some(group) = &self.group {
            let bad = |g: &String| {
                g.is_empty() || g.len() > 128 || g.chars().any(|c| c.is_control() || c == '/')
            };
            if group.len() > 16 || group.iter().any(bad) {
                return Err("group: at most 16 non-empty folder names without '/'".into());
            }
        }
        let has_kernel = image.recipe.as_ref().is_some_and(|r| r.kernel.is_some());
        if self.method == Some(MethodOverride::Kernel) && !has_kernel {
            return Err("method kernel: no kernel was found in this ISO".into());
        }
        if self.method == Some(MethodOverride::Wimboot)
            && !image
                .recipe
                .as_ref()
                .is_some_and(|r| r.method == Method::Wimboot)
        {
            return Err("method wimboot: this ISO has no Windows PE files".into());
        }
        Ok(())
    }

    /// `image` as booted and shown with these edits.
    pub fn apply(&self, image: &Image) -> Image {
        let mut out = image.clone();
        if let Some(group) = &self.group {
            out.group.clone_from(group);
        }
        if let Some(recipe) = out.recipe.as_mut() {
            match self.method {
                Some(MethodOverride::Kernel) if recipe.kernel.is_some() => {
                    recipe.method = Method::Kernel;
                }
                Some(MethodOverride::Sanboot) => recipe.method = Method::Sanboot,
                Some(MethodOverride::Memdisk) => recipe.method = Method::Memdisk,
                // Wimboot is only accepted where detection found it (see `check`).
                _ => {}
            }
            if let Some(cmdline) = &self.cmdline {
                recipe.cmdline.clone_from(cmdline);
            }
            if let Some(extra) = self.extra_args.as_deref().filter(|e| !e.is_empty()) {
                if !recipe.cmdline.is_empty() {
                    recipe.cmdline.push(' ');
                }
                recipe.cmdline.push_str(extra);
            }
        }
        out
    }
}
