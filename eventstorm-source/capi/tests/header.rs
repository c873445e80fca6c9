//! The committed header `include/eventstorm.h` is what cbindgen generates
//! from the crate today: a change of the C API without a new header fails
//! here. Regenerate with
//! `EVENTSTORM_BLESS=1 cargo test -p eventstorm-capi --test header`.

use std::path::Path;

#[test]
fn the_committed_header_is_up_to_date() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config =
        cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_crate(crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header")
        .write(&mut generated);
    let generated = String::from_utf8(generated).expect("the header is UTF-8");
    let path = crate_dir.join("include/eventstorm.h");
    if std::env::var_os("EVENTSTORM_BLESS").is_some() {
        std::fs::write(&path, &generated).expect("write the header");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} is out of date with the Rust code (or missing). Regenerate it with\n    \
         EVENTSTORM_BLESS=1 cargo test -p eventstorm-capi --test header\n\
         and commit it.",
        path.display()
    );
}
