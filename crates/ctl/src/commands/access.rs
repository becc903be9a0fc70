//! Users, virtual hosts and permissions, with rabbitmqctl's banners, messages and exit
//! statuses (67 for a user that does not exist, 65 for deleting a vhost that does not).

use super::Ctx;
use crate::error::{CtlError, CtlResult, EX_DATAERR, EX_NOUSER, EX_SOFTWARE, EX_UNAVAILABLE};
use serde_json::{json, Value};

/// The user as the API shows it, or rabbitmqctl's "does not exist" (67).
fn existing_user(ctx: &Ctx, name: &str) -> CtlResult<Value> {
    let reply = ctx.client.get(&["users", name])?;
    if reply.status == 404 {
        return Err(CtlError::reason(
            EX_NOUSER,
            format!("User \"{name}\" does not exist"),
        ));
    }
    Ok(ctx.expect(reply, EX_NOUSER, EX_SOFTWARE)?.body)
}

/// The tags of a user in the API's answer, as the comma-separated text a PUT takes.
fn tags_text(user: &Value) -> String {
    match user.get("tags") {
        Some(Value::Array(tags)) => tags
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(","),
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    }
}

pub fn add_user(ctx: &mut Ctx, name: &str, password: &str) -> CtlResult<()> {
    ctx.out.banner(&format!("Adding user \"{name}\" ..."));
    if ctx.client.get(&["users", name])?.ok() {
        return Err(CtlError::reason(
            EX_SOFTWARE,
            format!("User \"{name}\" already exists"),
        ));
    }
    let body = json!({"password": password, "tags": ""});
    let reply = ctx.client.put(&["users", name], &body)?;
    ctx.expect(reply, EX_SOFTWARE, EX_SOFTWARE)?;
    ctx.out.banner(
        "Done. Don't forget to grant the user permissions to some virtual hosts! \
         See 'rabbitmqctl help set_permissions' to learn more.",
    );
    Ok(())
}

pub fn delete_user(ctx: &mut Ctx, name: &str) -> CtlResult<()> {
    ctx.out.banner(&format!("Deleting user \"{name}\" ..."));
    let url = ctx.client.url(&["users", name]);
    let reply = ctx.client.delete(&url, None)?;
    if reply.status == 404 {
        return Err(CtlError::reason(
            EX_NOUSER,
            format!("User \"{name}\" does not exist"),
        ));
    }
    ctx.expect(reply, EX_NOUSER, EX_SOFTWARE).map(drop)
}

pub fn change_password(ctx: &mut Ctx, name: &str, password: &str) -> CtlResult<()> {
    ctx.out
        .banner(&format!("Changing password for user \"{name}\" ..."));
    let user = existing_user(ctx, name)?;
    let body = json!({"password": password, "tags": tags_text(&user)});
    let reply = ctx.client.put(&["users", name], &body)?;
    ctx.expect(reply, EX_NOUSER, EX_SOFTWARE).map(drop)
}

pub fn set_user_tags(ctx: &mut Ctx, name: &str, tags: &[String]) -> CtlResult<()> {
    ctx.out.banner(&format!(
        "Setting tags for user \"{name}\" to [{}] ...",
        tags.join(", ")
    ));
    let user = existing_user(ctx, name)?;
    // The stored hash goes back unchanged: a PUT without one would clear the password.
    let body = json!({
        "password_hash": user.get("password_hash").cloned().unwrap_or(Value::from("")),
        "hashing_algorithm": user.get("hashing_algorithm").cloned()
            .unwrap_or(Value::from("rabbit_password_hashing_sha256")),
        "tags": tags.join(","),
    });
    let reply = ctx.client.put(&["users", name], &body)?;
    ctx.expect(reply, EX_NOUSER, EX_SOFTWARE).map(drop)
}

pub fn set_permissions(
    ctx: &mut Ctx,
    name: &str,
    [conf, write, read]: [&String; 3],
) -> CtlResult<()> {
    let vhost = ctx.vhost.clone();
    ctx.out.banner(&format!(
        "Setting permissions for user \"{name}\" in vhost \"{vhost}\" ..."
    ));
    let body = json!({"configure": conf, "write": write, "read": read});
    let reply = ctx.client.put(&["permissions", &vhost, name], &body)?;
    if reply.ok() {
        return Ok(());
    }
    // The API answers 400 "vhost_or_user_not_found" for either; rabbitmqctl tells them apart.
    if reply.status == 400 && reply.reason().contains("not_found") {
        if ctx.client.get(&["users", name])?.status == 404 {
            return Err(CtlError::reason(
                EX_NOUSER,
                format!("User {name} does not exist"),
            ));
        }
        return Err(CtlError::reason(
            EX_UNAVAILABLE,
            format!("Virtual host {vhost} does not exist"),
        ));
    }
    ctx.expect(reply, EX_SOFTWARE, EX_SOFTWARE).map(drop)
}

pub fn clear_permissions(ctx: &mut Ctx, name: &str) -> CtlResult<()> {
    let vhost = ctx.vhost.clone();
    ctx.out.banner(&format!(
        "Clearing permissions for user \"{name}\" in vhost \"{vhost}\" ..."
    ));
    let url = ctx.client.url(&["permissions", &vhost, name]);
    let reply = ctx.client.delete(&url, None)?;
    if reply.status != 404 {
        return ctx.expect(reply, EX_NOUSER, EX_SOFTWARE).map(drop);
    }
    // No permissions to clear is success, as in rabbitmqctl, unless the user or the vhost
    // is missing.
    if ctx.client.get(&["users", name])?.status == 404 {
        return Err(CtlError::reason(
            EX_NOUSER,
            format!("User {name} does not exist"),
        ));
    }
    if ctx.client.get(&["vhosts", &vhost])?.status == 404 {
        return Err(CtlError::reason(
            EX_UNAVAILABLE,
            format!("Virtual host {vhost} does not exist"),
        ));
    }
    Ok(())
}

pub fn add_vhost(ctx: &mut Ctx, vhost: &str) -> CtlResult<()> {
    ctx.out.banner(&format!("Adding vhost \"{vhost}\" ..."));
    let reply = ctx.client.put(&["vhosts", vhost], &json!({}))?;
    ctx.expect(reply, EX_SOFTWARE, EX_SOFTWARE).map(drop)
}

pub fn delete_vhost(ctx: &mut Ctx, vhost: &str) -> CtlResult<()> {
    ctx.out.banner(&format!("Deleting vhost \"{vhost}\" ..."));
    let url = ctx.client.url(&["vhosts", vhost]);
    let reply = ctx.client.delete(&url, None)?;
    if reply.status == 404 {
        return Err(CtlError::new(
            EX_DATAERR,
            format!("Virtual host '{vhost}' does not exist"),
        ));
    }
    ctx.expect(reply, EX_DATAERR, EX_SOFTWARE).map(drop)
}
