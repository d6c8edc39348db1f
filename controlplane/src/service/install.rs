//! Unattended installs in the service: templates (built-in starters and stored ones), groups,
//! secrets; which template a machine gets (its own, else its group's, else its image's); the
//! plan the boot policy carries for it (kernel parameters, files at its token); and what
//! installers report (started, progress, done: then the machine boots its disk).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use dataplane::Mac;

use super::{Effect, ErrorKind, Live, Service, ServiceError};
use crate::clients::{Client, Install, InstallState};
use crate::coordinator::unix_now;
use crate::images::Image;
use crate::install::render::{self, Vars};
use crate::install::{self, families, Group, Source, Template};

/// How long an install may run before it counts as failed.
pub const INSTALL_TIMEOUT_SECS: u64 = 4 * 3600;

/// What a machine gets when it boots `image` with a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The template's name and where it came from.
    pub template: String,
    pub source: Source,
    /// Kernel parameters to append.
    pub args: String,
    /// Server paths (`/t/<token>/<file>`) handed to wimboot.
    pub initrds: Vec<String>,
    /// The machine's token and its rendered files.
    pub token: String,
    pub files: Vec<(String, String)>,
}

/// A machine's install as the API shows it (never the rendered files unless asked, by an
/// admin).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InstallView {
    /// The image it would install (next-boot-once first).
    pub image: Option<String>,
    /// The template, and where it comes from: `client`, `group` or `image`.
    pub template: Option<String>,
    pub source: Option<Source>,
    /// The install family of the image's layout.
    pub family: Option<String>,
    /// Kernel parameters added (they name only the URL, never a secret).
    pub kernel_args: Option<String>,
    /// Why no template applies, or why it does not render.
    pub problem: Option<String>,
    /// The last install.
    pub last: Option<Install>,
}

/// `PUT /api/v1/templates/{name}`'s body.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateBody {
    /// The install family.
    pub family: String,
    /// For people.
    #[serde(default)]
    pub description: String,
    /// File name → template text.
    pub files: BTreeMap<String, String>,
}

impl Service {
    /// Built-in starters, then the stored templates.
    pub fn templates(&self) -> Vec<Template> {
        install::starters()
            .into_iter()
            .chain(self.install.templates.values().cloned())
            .collect()
    }

    /// One template.
    ///
    /// # Errors
    /// No such template.
    pub fn template(&self, name: &str) -> Result<Template, ServiceError> {
        self.templates()
            .into_iter()
            .find(|t| t.name == name)
            .ok_or_else(|| ServiceError::not_found(format!("no template {name:?}")))
    }

    /// Creates or replaces template `name`.
    ///
    /// # Errors
    /// An invalid template, or the database failed.
    pub fn put_template(
        &mut self,
        name: &str,
        body: TemplateBody,
    ) -> Result<Template, ServiceError> {
        let t = Template {
            name: name.to_owned(),
            family: body.family,
            description: body.description,
            files: body.files,
            builtin: false,
        };
        install::check(&t).map_err(ServiceError::bad_request)?;
        self.reopen_if_failed();
        if let Err(e) = self.store.save_template(name, Some(&t)) {
            self.saving.failed();
            return Err(e.into());
        }
        self.install.templates.insert(name.to_owned(), t.clone());
        self.effects.push(Effect::Republish);
        Ok(t)
    }

    /// Deletes template `name` (machines naming it get no template until it is back).
    ///
    /// # Errors
    /// No such stored template, or the database failed.
    pub fn delete_template(&mut self, name: &str) -> Result<(), ServiceError> {
        if !self.install.templates.contains_key(name) {
            return Err(ServiceError::not_found(format!(
                "no stored template {name:?}"
            )));
        }
        self.reopen_if_failed();
        if let Err(e) = self.store.save_template(name, None) {
            self.saving.failed();
            return Err(e.into());
        }
        self.install.templates.remove(name);
        self.effects.push(Effect::Republish);
        Ok(())
    }

    /// Every group.
    pub fn groups(&self) -> Vec<Group> {
        self.install.groups.values().cloned().collect()
    }

    /// Creates or replaces group `group.name`.
    ///
    /// # Errors
    /// A bad name, an unknown template, or the database failed.
    pub fn put_group(&mut self, group: Group) -> Result<Group, ServiceError> {
        let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        if !(1..=64).contains(&group.name.len()) || !group.name.chars().all(valid) {
            return Err(ServiceError::bad_request(
                "group name: 1 to 64 characters of A-Z a-z 0-9 . _ -",
            ));
        }
        if let Some(t) = &group.template {
            self.template(t)?;
        }
        check_metadata(&group.metadata)?;
        self.reopen_if_failed();
        if let Err(e) = self.store.save_group(&group.name, Some(&group)) {
            self.saving.failed();
            return Err(e.into());
        }
        self.install
            .groups
            .insert(group.name.clone(), group.clone());
        self.effects.push(Effect::Republish);
        Ok(group)
    }

    /// Deletes group `name` (its members keep naming it, and get nothing from it).
    ///
    /// # Errors
    /// No such group, or the database failed.
    pub fn delete_group(&mut self, name: &str) -> Result<(), ServiceError> {
        if !self.install.groups.contains_key(name) {
            return Err(ServiceError::not_found(format!("no group {name:?}")));
        }
        self.reopen_if_failed();
        if let Err(e) = self.store.save_group(name, None) {
            self.saving.failed();
            return Err(e.into());
        }
        self.install.groups.remove(name);
        self.effects.push(Effect::Republish);
        Ok(())
    }

    /// The names of the secrets (never their values).
    pub fn secret_names(&self) -> Vec<String> {
        self.install.secrets.keys().cloned().collect()
    }

    /// Sets secret `name` (`None`: deletes it).
    ///
    /// # Errors
    /// A bad name or value, no such secret to delete, or the database failed.
    pub fn put_secret(&mut self, name: &str, value: Option<String>) -> Result<(), ServiceError> {
        let valid = |c: char| c.is_ascii_alphanumeric() || c == '_';
        if !(1..=64).contains(&name.len()) || !name.chars().all(valid) {
            return Err(ServiceError::bad_request(
                "secret name: 1 to 64 characters of A-Z a-z 0-9 _",
            ));
        }
        if value.as_ref().is_some_and(|v| v.len() > 65_536) {
            return Err(ServiceError::bad_request("a secret is 64 KiB at most"));
        }
        if value.is_none() && !self.install.secrets.contains_key(name) {
            return Err(ServiceError::not_found(format!("no secret {name:?}")));
        }
        self.reopen_if_failed();
        if let Err(e) = self.store.save_secret(name, value.as_deref()) {
            self.saving.failed();
            return Err(e.into());
        }
        match value {
            Some(v) => self.install.secrets.insert(name.to_owned(), v),
            None => self.install.secrets.remove(name),
        };
        self.effects.push(Effect::Republish);
        Ok(())
    }

    /// The template `client` gets with `image`, and where it comes from.
    pub(super) fn resolve(&self, client: &Client, image: &Image) -> Option<(String, Source)> {
        if let Some(t) = &client.template {
            return Some((t.clone(), Source::Client));
        }
        let group = client
            .group
            .as_ref()
            .and_then(|g| self.install.groups.get(g));
        if let Some((t, g)) = group.and_then(|g| Some((g.template.clone()?, g))) {
            return Some((t, Source::Group(g.name.clone())));
        }
        let meta = self.meta.get(&image.id)?;
        Some((meta.template.clone()?, Source::Image(image.id.clone())))
    }

    /// What `client` gets when it boots `image` (already edited): `Ok(None)` without a
    /// template.
    ///
    /// # Errors
    /// Why the template it should get does not apply or does not render.
    pub(super) fn plan(&self, client: &Client, image: &Image) -> Result<Option<Plan>, String> {
        let Some((name, source)) = self.resolve(client, image) else {
            return Ok(None);
        };
        let template = self.template(&name).map_err(|e| e.detail)?;
        let layout = image.recipe.as_ref().map_or("", |r| r.layout.as_str());
        let family = families::by_id(&template.family)
            .ok_or_else(|| format!("template {name}: unknown family {}", template.family))?;
        if families::for_layout(layout).map(|f| f.id.as_str()) != Some(family.id.as_str()) {
            return Err(format!(
                "template {name} is for {} installers; image {} ({layout}) is not one",
                family.id, image.id
            ));
        }
        let token = install::token(&self.install.key, client.mac);
        let base = format!("http://{}/t/{token}", dataplane::boot::SERVER_TOKEN);
        let vars = self.vars(client, image, &base);
        let files = render::render(&template, &vars, &self.install.secrets)
            .map_err(|e| format!("template {name}: {e}"))?;
        Ok(Some(Plan {
            template: name,
            source,
            args: family.args_for(&base),
            initrds: family
                .initrds
                .iter()
                .map(|f| format!("/t/{token}/{f}"))
                .collect(),
            token,
            files,
        }))
    }

    fn vars(&self, client: &Client, image: &Image, base: &str) -> Vars {
        let mut metadata = client
            .group
            .as_ref()
            .and_then(|g| self.install.groups.get(g))
            .map(|g| g.metadata.clone())
            .unwrap_or_default();
        metadata.extend(client.metadata.clone());
        let field = |k: &str, v: &Option<String>| v.clone().map(|v| (k.to_owned(), v));
        Vars {
            hostname: client
                .name
                .clone()
                .unwrap_or_else(|| format!("host-{}", client.mac.to_string().replace(':', ""))),
            mac: client.mac.to_string(),
            ip: client.ip.clone(),
            arch: client.arch.clone(),
            server: dataplane::boot::SERVER_TOKEN.to_owned(),
            image: [
                Some(("id".to_owned(), image.id.clone())),
                image
                    .recipe
                    .as_ref()
                    .map(|r| ("distro".to_owned(), r.distro.clone())),
                image
                    .recipe
                    .as_ref()
                    .map(|r| ("layout".to_owned(), r.layout.clone())),
            ]
            .into_iter()
            .flatten()
            .collect(),
            inventory: [
                field("uuid", &client.uuid),
                field("serial", &client.serial),
                field("product", &client.product),
                field("manufacturer", &client.manufacturer),
            ]
            .into_iter()
            .flatten()
            .collect(),
            metadata,
            url: base.to_owned(),
            done_url: format!("{base}/done"),
            progress_url: format!("{base}/progress"),
        }
    }

    /// `mac`'s install as the API shows it.
    ///
    /// # Errors
    /// A bad MAC, or no such client.
    pub fn install_view(&mut self, mac: &str) -> Result<InstallView, ServiceError> {
        let client = self.client(mac)?;
        let image_id = client.next_boot.clone().or_else(|| client.assigned.clone());
        let image = image_id
            .as_ref()
            .and_then(|id| self.images.iter().find(|i| &i.id == id))
            .map(|i| self.edited(i));
        let mut view = InstallView {
            image: image_id,
            template: None,
            source: None,
            family: image
                .as_ref()
                .and_then(|i| i.recipe.as_ref())
                .and_then(|r| families::for_layout(&r.layout))
                .map(|f| f.id.clone()),
            kernel_args: None,
            problem: None,
            last: client.install.clone(),
        };
        let Some(image) = image else {
            view.problem = Some("no image assigned".into());
            return Ok(view);
        };
        // Named even when it does not apply: the problem says why.
        if let Some((template, source)) = self.resolve(&client, &image) {
            view.template = Some(template);
            view.source = Some(source);
        }
        match self.plan(&client, &image) {
            Ok(Some(plan)) => view.kernel_args = Some(plan.args),
            Ok(None) => {
                view.problem =
                    Some("no template: set one on the client, its group or the image".into())
            }
            Err(e) => view.problem = Some(e),
        }
        Ok(view)
    }

    /// `mac`'s rendered files as its installer gets them (admins only: secrets are in them).
    ///
    /// # Errors
    /// A bad MAC, no such client, no image or template, or a render error.
    pub fn rendered(&mut self, mac: &str) -> Result<Vec<(String, String)>, ServiceError> {
        let client = self.client(mac)?;
        let id = client
            .next_boot
            .clone()
            .or_else(|| client.assigned.clone())
            .ok_or_else(|| ServiceError::new(ErrorKind::Conflict, "no image assigned"))?;
        let image = self.edited(self.image(&id)?);
        match self.plan(&client, &image) {
            Ok(Some(plan)) => Ok(plan.files),
            Ok(None) => Err(ServiceError::new(
                ErrorKind::Conflict,
                "no template applies",
            )),
            Err(e) => Err(ServiceError::new(ErrorKind::Conflict, e)),
        }
    }

    /// Marks installs running past the timeout as failed.
    pub(super) fn expire_installs(&mut self) {
        let now = unix_now();
        let late: Vec<Mac> = self
            .clients
            .all()
            .filter(|c| {
                c.install.as_ref().is_some_and(|i| {
                    i.state == InstallState::Running
                        && now.saturating_sub(i.started) > INSTALL_TIMEOUT_SECS
                })
            })
            .map(|c| c.mac)
            .collect();
        for mac in late {
            self.clients.edit(mac, now, |c| {
                if let Some(i) = c.install.as_mut() {
                    i.state = InstallState::Failed;
                    i.finished = Some(now);
                }
            });
            tracing::warn!(%mac, "unattended install timed out");
            self.saving.unsaved.insert(mac);
            self.effects
                .push(Effect::Live(Live::Client(mac.to_string())));
        }
    }
}

/// Metadata: at most 64 keys of `A-Z a-z 0-9 _`, values of 4 KiB.
pub(super) fn check_metadata(m: &BTreeMap<String, String>) -> Result<(), ServiceError> {
    let key = |k: &String| {
        (1..=64).contains(&k.len()) && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    if m.len() > 64 || !m.keys().all(key) || m.values().any(|v| v.len() > 4096) {
        return Err(ServiceError::bad_request(
            "metadata: at most 64 keys of A-Z a-z 0-9 _, values of 4096 bytes",
        ));
    }
    Ok(())
}

/// What the service keeps for installs.
#[derive(Debug, Default)]
pub(super) struct Installs {
    pub(super) templates: BTreeMap<String, Template>,
    pub(super) groups: BTreeMap<String, Group>,
    pub(super) secrets: BTreeMap<String, String>,
    pub(super) key: Vec<u8>,
}

impl Installs {
    pub(super) fn load(store: &crate::store::Store) -> Result<Installs, crate::store::StoreError> {
        Ok(Installs {
            templates: store
                .templates()?
                .into_iter()
                .map(|t| (t.name.clone(), t))
                .collect(),
            groups: store
                .groups()?
                .into_iter()
                .map(|g| (g.name.clone(), g))
                .collect(),
            secrets: store.secrets()?.into_iter().collect(),
            key: store.install_key(false)?,
        })
    }
}

/// Records an install's start when `client` is served `image` with a template.
pub(super) fn started(client: &mut Client, image: &str, template: String, now: u64) {
    client.install = Some(Install {
        image: image.to_owned(),
        template,
        state: InstallState::Running,
        started: now,
        finished: None,
        progress: None,
    });
}
