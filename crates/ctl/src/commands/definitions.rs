//! import_definitions and export_definitions: a file (or `-`, stdin / stdout) through
//! `/api/definitions`. The file is checked to be JSON before anything is sent.

use super::Ctx;
use crate::error::{CtlError, CtlResult, EX_DATAERR, EX_SOFTWARE, EX_USAGE};
use std::io::Read;

pub fn import(ctx: &mut Ctx, file: &str) -> CtlResult<()> {
    let text = if file == "-" {
        ctx.out
            .banner("Importing definitions in JSON from standard input ...");
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| CtlError::reason(EX_DATAERR, format!("cannot read stdin: {e}")))?;
        text
    } else {
        if !std::path::Path::new(file).is_file() {
            return Err(CtlError::new(
                EX_USAGE,
                format!("Error (argument validation): Bad argument: File {file} does not exist"),
            ));
        }
        ctx.out.banner(&format!(
            "Importing definitions in JSON from a file at \"{file}\" ..."
        ));
        std::fs::read_to_string(file)
            .map_err(|e| CtlError::reason(EX_DATAERR, format!("cannot read {file}: {e}")))?
    };
    if let Err(e) = serde_json::from_str::<serde_json::Value>(&text) {
        return Err(CtlError::reason(
            EX_DATAERR,
            format!("Failed to deserialise input (format: JSON) (error: {e})"),
        ));
    }
    let reply = ctx.client.post_raw(&["definitions"], text)?;
    ctx.expect(reply, EX_DATAERR, EX_DATAERR)?;
    ctx.out.banner(
        "Successfully started definition import. This process is asynchronous and can take some time.",
    );
    Ok(())
}

pub fn export(ctx: &mut Ctx, file: &str) -> CtlResult<()> {
    if file != "-" {
        ctx.out.banner(&format!(
            "Exporting definitions in JSON to a file at \"{file}\" ..."
        ));
    }
    let reply = ctx.client.get(&["definitions"])?;
    let body = ctx.expect(reply, EX_SOFTWARE, EX_SOFTWARE)?.body;
    let text = body.to_string();
    if file == "-" {
        ctx.out.line(&text);
        return Ok(());
    }
    std::fs::write(file, text)
        .map_err(|e| CtlError::reason(EX_SOFTWARE, format!("cannot write {file}: {e}")))
}
