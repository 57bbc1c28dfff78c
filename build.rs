//! The page's script (web/dist/page.js) is generated from web/page.js and the age library of
//! web/package-lock.json by scripts/build-page, which scripts/setup runs; it is not in git. Without it the
//! status function cannot be compiled: say what to run instead of include_str!'s bare "file not found".

fn main() {
    let script = std::path::Path::new("web/dist/page.js");
    println!("cargo:rerun-if-changed={}", script.display());
    if !script.exists() {
        eprintln!(
            "web/dist/page.js is missing: run scripts/setup (or scripts/build-page), which \
             bundles the page's script from web/package-lock.json"
        );
        std::process::exit(1);
    }
}
