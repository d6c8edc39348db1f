//! Images: what scans found, with operators' edits laid over them, as the API shows them;
//! editing and deleting.

use serde::Serialize;
use utoipa::ToSchema;

use super::{Effect, Live, Service, ServiceError};
use crate::distro::Method;
use crate::images::meta::ImageMeta;
use crate::images::report::method_name;
use crate::images::{self, Image};

/// An image as the API shows it: detection with the edits applied.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ImageView {
    /// Stable, URL-safe id.
    pub id: String,
    /// Path relative to `data/isos/`.
    pub path: String,
    /// Menu folders (the ISO's folders unless edited).
    pub group: Vec<String>,
    /// Distribution name, when detected.
    pub distro: Option<String>,
    /// Layout id that matched.
    pub layout: Option<String>,
    /// kernel | sanboot | wimboot | needs-netboot.
    pub method: Option<String>,
    /// Kernel path inside the ISO (or on the server, `/…`).
    pub kernel: Option<String>,
    /// Initrd paths, in load order.
    pub initrds: Vec<String>,
    /// Kernel command line template.
    pub cmdline: Option<String>,
    /// Size in bytes.
    pub size: u64,
    /// Listed in the menu.
    pub public: bool,
    /// The operator's description.
    pub description: Option<String>,
    /// `ready`, `needs_netboot`, or `error` (see `error`).
    pub status: String,
    /// Why the ISO could not be indexed.
    pub error: Option<String>,
    /// The operator's edits as stored.
    pub edits: ImageMeta,
}

impl ImageView {
    fn of(found: &Image, meta: Option<&ImageMeta>) -> ImageView {
        let meta = meta.cloned().unwrap_or_default();
        let image = meta.apply(found);
        let recipe = image.recipe.as_ref();
        let status = match (&image.index, recipe.map(|r| r.method)) {
            (Err(_), _) => "error",
            (Ok(_), Some(Method::NeedsNetboot)) => "needs_netboot",
            (Ok(_), _) => "ready",
        };
        ImageView {
            id: image.id.clone(),
            path: image.path.clone(),
            group: image.group.clone(),
            distro: recipe.map(|r| r.distro.clone()),
            layout: recipe.map(|r| r.layout.clone()),
            method: recipe.map(|r| method_name(&r.method).to_owned()),
            kernel: recipe.and_then(|r| r.kernel.clone()),
            initrds: recipe.map_or_else(Vec::new, |r| r.initrds.clone()),
            cmdline: recipe.map(|r| r.cmdline.clone()),
            size: image.size,
            public: meta.is_public(),
            description: meta.description.clone(),
            status: status.into(),
            error: image.index.as_ref().err().cloned(),
            edits: meta,
        }
    }
}

impl Service {
    /// Every image, by id.
    pub fn image_views(&self) -> Vec<ImageView> {
        self.images
            .iter()
            .map(|i| ImageView::of(i, self.meta.get(&i.id)))
            .collect()
    }

    /// One image.
    ///
    /// # Errors
    /// No such image.
    pub fn image_view(&self, id: &str) -> Result<ImageView, ServiceError> {
        let image = self.image(id)?;
        Ok(ImageView::of(image, self.meta.get(id)))
    }

    /// One image as found (no edits).
    ///
    /// # Errors
    /// No such image.
    pub fn image(&self, id: &str) -> Result<&Image, ServiceError> {
        self.images
            .iter()
            .find(|i| i.id == id)
            .ok_or_else(|| ServiceError::not_found(format!("no image {id:?}")))
    }

    /// `Ok` when `id` names an image.
    ///
    /// # Errors
    /// No such image.
    pub fn image_exists(&self, id: &str) -> Result<(), ServiceError> {
        self.image(id).map(|_| ())
    }

    /// Replaces `id`'s edits by `meta` (fields left unset return to detection).
    ///
    /// # Errors
    /// No such image, edits that cannot apply, or the database failed.
    pub fn edit_image(&mut self, id: &str, meta: ImageMeta) -> Result<ImageView, ServiceError> {
        meta.check(self.image(id)?)
            .map_err(ServiceError::bad_request)?;
        self.reopen_if_failed();
        let stored = (!meta.is_empty()).then_some(&meta);
        if let Err(e) = self.store.save_image_meta(id, stored) {
            self.saving.failed();
            return Err(e.into());
        }
        if meta.is_empty() {
            self.meta.remove(id);
        } else {
            self.meta.insert(id.to_owned(), meta);
        }
        self.effects.push(Effect::Republish);
        self.effects.push(Effect::Live(Live::Images));
        self.image_view(id)
    }

    /// Deletes the ISO of `id` and its edits; the next scan drops the image.
    ///
    /// # Errors
    /// No such image, or the file cannot be removed.
    pub fn delete_image(&mut self, id: &str) -> Result<(), ServiceError> {
        let path = self.image(id)?.path.clone();
        // The path is the scan's own (relative, inside data/isos, no `..`).
        let file = self.data_dir.join("isos").join(&path);
        std::fs::remove_file(&file).map_err(|e| {
            ServiceError::new(
                super::ErrorKind::Internal,
                format!("cannot delete {}: {e}", file.display()),
            )
        })?;
        tracing::info!(image = id, path, "image deleted");
        self.reopen_if_failed();
        if self.meta.remove(id).is_some() {
            if let Err(e) = self.store.save_image_meta(id, None) {
                self.saving.failed();
                tracing::error!(error = %e, image = id, "edits of a deleted image not forgotten");
            }
        }
        self.images.retain(|i| i.id != id);
        self.effects.push(Effect::Rescan);
        self.effects.push(Effect::Live(Live::Images));
        Ok(())
    }

    /// What a scan found (every file, and the images): recorded; the owner publishes.
    ///
    /// # Errors
    /// The database failed (the images are in use anyway).
    pub fn set_images(
        &mut self,
        files: &[crate::store::FileRecord],
        found: Vec<Image>,
    ) -> Result<(), ServiceError> {
        let changed = found != self.images;
        self.images = found;
        if changed {
            self.effects.push(Effect::Live(Live::Images));
        }
        self.effects.push(Effect::Republish);
        self.reopen_if_failed();
        let synced = self
            .store
            .sync_files(files)
            .and_then(|_| self.store.sync_images(&self.images));
        if let Err(e) = synced {
            self.saving.failed();
            return Err(e.into());
        }
        Ok(())
    }

    /// Images as found, for the next scan to reuse their indexes.
    pub fn found_images(&self) -> &[Image] {
        &self.images
    }
}

/// The id an uploaded or downloaded ISO at `rel` (relative to `data/isos/`) will have.
pub fn id_of(rel: &str) -> String {
    images::image_id(rel)
}

/// A change to an image's edits: a value sets it, `null` returns it to detection, a field
/// left out stays.
#[derive(Debug, Clone, Default, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImagePatch {
    /// Free text shown beside the image.
    #[serde(default, deserialize_with = "super::clients::present")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    /// `false` hides it from the menu.
    #[serde(default, deserialize_with = "super::clients::present")]
    #[schema(value_type = Option<bool>)]
    pub public: Option<Option<bool>>,
    /// Menu folders instead of the ISO's folders.
    #[serde(default, deserialize_with = "super::clients::present")]
    #[schema(value_type = Option<Vec<String>>)]
    pub group: Option<Option<Vec<String>>>,
    /// kernel, sanboot or wimboot instead of the detected method.
    #[serde(default, deserialize_with = "super::clients::present")]
    #[schema(value_type = Option<crate::images::meta::MethodOverride>)]
    pub method: Option<Option<crate::images::meta::MethodOverride>>,
    /// Kernel command line instead of the detected one.
    #[serde(default, deserialize_with = "super::clients::present")]
    #[schema(value_type = Option<String>)]
    pub cmdline: Option<Option<String>>,
    /// Appended to the kernel command line.
    #[serde(default, deserialize_with = "super::clients::present")]
    #[schema(value_type = Option<String>)]
    pub extra_args: Option<Option<String>>,
    /// The unattended-install template machines booting it get by default.
    #[serde(default, deserialize_with = "super::clients::present")]
    #[schema(value_type = Option<String>)]
    pub template: Option<Option<String>>,
}

impl Service {
    /// Applies `patch` to `id`'s edits.
    ///
    /// # Errors
    /// See [`Service::edit_image`].
    pub fn patch_image(&mut self, id: &str, patch: ImagePatch) -> Result<ImageView, ServiceError> {
        let mut meta = self.meta.get(id).cloned().unwrap_or_default();
        if let Some(v) = patch.description {
            meta.description = v;
        }
        if let Some(v) = patch.public {
            meta.public = v;
        }
        if let Some(v) = patch.group {
            meta.group = v;
        }
        if let Some(v) = patch.method {
            meta.method = v;
        }
        if let Some(v) = patch.cmdline {
            meta.cmdline = v;
        }
        if let Some(v) = patch.extra_args {
            meta.extra_args = v;
        }
        if let Some(v) = patch.template {
            if let Some(t) = &v {
                self.template(t)?;
            }
            meta.template = v;
        }
        self.edit_image(id, meta)
    }
}
