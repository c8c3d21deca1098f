//! `[image] base`: an image (a package's own, or an image recipe) that starts from an image recipe, and
//! recipes outside `recipes/` (an `examples/NAME/` directory) that find the project's toolchains and the
//! recipes they name in `recipes/`.

use serde_json::Value;

use crate::harness::{E, Run, Test, recipe, tar_listing};

const INSTALL_HELLO: &str = "mkdir -p \"$DESTDIR/bin\"\ncp hello.sh \"$DESTDIR/bin/hello\"";
const INSTALL_EXTRA: &str = "mkdir -p \"$DESTDIR/usr/share/extra\"\ncp data.txt \"$DESTDIR/usr/share/extra/\"";

/// The base image: `extra`, a user, a workdir and some config.
const BASE: &str = r#"
[image]
name = "base"
version = "1"
packages = ["extra"]

[config]
user = "app"
workdir = "/home/app"
cmd = ["--from-base"]
env = { FROM_BASE = "1", SHARED = "base" }
labels = { "org.example.base" = "yes" }
exposed_ports = ["53/udp"]

[[user]]
name = "app"
uid = 1000
"#;

/// The fixture project: `recipes/extra.toml`, `recipes/hello.toml`, `recipes/base.toml`, and
/// `examples/mine/mine.toml`, a package whose image starts from `base` and that needs `hello` to build.
fn project(mine_image: &str) -> Test {
    let mine = recipe("mine", "mine-1.0.tar.gz", &["hello"], &[], INSTALL_HELLO)
        .replace("[build]", &format!("{mine_image}\n[build]"));
    let t = Test::new()
        .tarball(
            "hello-1.0.tar.gz",
            &[E::Dir("hello-1.0"), E::File("hello-1.0/hello.sh", "#!/bin/sh\necho hello\n", 0o755)],
        )
        .tarball(
            "mine-1.0.tar.gz",
            &[E::Dir("mine-1.0"), E::File("mine-1.0/hello.sh", "#!/bin/sh\necho mine\n", 0o755)],
        )
        .tarball("extra-1.0.tar.gz", &[E::Dir("extra-1.0"), E::File("extra-1.0/data.txt", "data\n", 0o644)])
        .recipe("hello", &recipe("hello", "hello-1.0.tar.gz", &[], &[], INSTALL_HELLO))
        .recipe("extra", &recipe("extra", "extra-1.0.tar.gz", &[], &[], INSTALL_EXTRA))
        .recipe("base", BASE)
        .recipe("mine", &mine);
    // The recipe lives in examples/mine/, not in recipes/.
    std::fs::create_dir_all(t.path("examples/mine")).unwrap();
    std::fs::rename(t.path("recipes/mine.toml"), t.path("examples/mine/mine.toml")).unwrap();
    t
}

const MINE_IMAGE: &str = r#"
[image]
base = "base"

[config]
entrypoint = ["/bin/hello"]
env = { SHARED = "mine" }
exposed_ports = ["8080/tcp"]
"#;

fn build(t: &Test, recipe: &str) -> Run {
    build_with(t, recipe, &[])
}

fn build_with(t: &Test, recipe: &str, extra: &[&str]) -> Run {
    let mirror = t.path("dl").display().to_string();
    let mut args = vec!["build", recipe, "--toolchain", "stub", "-o", "out", "--offline", "--mirror", &mirror];
    args.extend(["--format", "tar,oci", "--message-format", "json"]);
    args.extend_from_slice(extra);
    t.run_with(&args, &[])
}

fn config(t: &Test, name: &str) -> Value {
    let layout = t.path(&format!("out/{name}.oci"));
    let read = |p: std::path::PathBuf| -> Value { serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap() };
    let blob = |d: &str| layout.join("blobs/sha256").join(d.strip_prefix("sha256:").unwrap());
    let index = read(layout.join("index.json"));
    let manifest = read(blob(index["manifests"][0]["digest"].as_str().unwrap()));
    read(blob(manifest["config"]["digest"].as_str().unwrap()))
}

#[test]
fn a_package_image_on_a_base_has_the_bases_packages_accounts_and_config_under_its_own() {
    let t = project(MINE_IMAGE);
    let first = build(&t, "examples/mine/mine.toml");
    first.success();
    let mut built = first.built();
    built.sort();
    // `hello`, a build dependency named by examples/mine/mine.toml, comes from recipes/.
    assert_eq!(built, ["extra", "hello", "mine"]);
    let l = tar_listing(&t.path("out/mine.tar"));
    let get = |p: &str| l.iter().find(|e| e.0 == p).unwrap_or_else(|| panic!("{p} missing from the rootfs"));
    assert_eq!(get("usr/share/extra/data.txt").3, "data\n", "the base's package");
    assert_eq!(get("bin/hello").3, "#!/bin/sh\necho mine\n", "the package itself");
    assert!(get("etc/passwd").3.contains("\napp:x:1000:1000::/home/app:/sbin/nologin\n"), "the base's user");
    assert!(l.iter().any(|e| e.0 == "home/app/"), "the base user's home");

    let c = &config(&t, "mine")["config"];
    assert_eq!(c["Entrypoint"], serde_json::json!(["/bin/hello"]), "own");
    assert_eq!(c["Cmd"], serde_json::json!(["--from-base"]), "from the base, not set here");
    assert_eq!(c["User"], "app");
    assert_eq!(c["WorkingDir"], "/home/app");
    let env: Vec<&str> = c["Env"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(env.contains(&"FROM_BASE=1") && env.contains(&"SHARED=mine"), "{env:?}");
    assert_eq!(c["ExposedPorts"], serde_json::json!({"53/udp": {}, "8080/tcp": {}}));
    assert_eq!(c["Labels"]["org.example.base"], "yes");
    let again = build(&t, "examples/mine/mine.toml");
    assert!(again.success().built().is_empty(), "{:?}", again.built());
}

#[test]
fn changing_only_the_base_changes_the_image_but_rebuilds_no_package() {
    let t = project(MINE_IMAGE);
    build(&t, "examples/mine/mine.toml").success();
    let before = std::fs::read(t.path("out/mine.tar")).unwrap();
    std::fs::write(t.path("recipes/base.toml"), BASE.replace("cmd = [\"--from-base\"]", "cmd = [\"--changed\"]"))
        .unwrap();
    let r = build(&t, "examples/mine/mine.toml");
    assert!(r.success().built().is_empty(), "{:?}", r.built());
    assert_eq!(std::fs::read(t.path("out/mine.tar")).unwrap(), before, "the rootfs is the same");
    assert_eq!(config(&t, "mine")["config"]["Cmd"], serde_json::json!(["--changed"]));
}

#[test]
fn an_image_recipe_on_a_base_adds_its_packages_after_the_bases() {
    let t = project(MINE_IMAGE).recipe(
        "both",
        "[image]\nname = \"both\"\nbase = \"base\"\npackages = [\"hello\"]\n\n[config]\nentrypoint = [\"/bin/hello\"]\n",
    );
    build_with(&t, "recipes/both.toml", &["--layers", "per-package"]).success();
    let l = tar_listing(&t.path("out/both.tar"));
    assert!(l.iter().any(|e| e.0 == "usr/share/extra/data.txt") && l.iter().any(|e| e.0 == "bin/hello"));
    let history: Vec<String> = config(&t, "both")["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["created_by"].as_str().unwrap_or_default().to_string())
        .collect();
    let (extra, hello) = (
        history.iter().position(|h| h.contains("extra")).expect("a layer for extra"),
        history.iter().position(|h| h.contains("hello")).expect("a layer for hello"),
    );
    assert!(extra < hello, "the base's package first: {history:?}");
}

#[test]
fn a_bad_base_is_refused_with_the_field_and_the_fix() {
    // A package recipe is not an image recipe.
    let t = project(&MINE_IMAGE.replace("base = \"base\"", "base = \"hello\""));
    build(&t, "examples/mine/mine.toml")
        .code(4)
        .stderr_has("field `image.base`")
        .stderr_has("is a package recipe, not an image recipe");
    // Missing.
    let t = project(&MINE_IMAGE.replace("base = \"base\"", "base = \"nowhere\""));
    build(&t, "examples/mine/mine.toml").code(4).stderr_has("there is no recipe").stderr_has("nowhere.toml");
    // A cycle: a on b on a.
    let t = project(MINE_IMAGE)
        .recipe("a", "[image]\nname = \"a\"\nbase = \"b\"\npackages = []\n")
        .recipe("b", "[image]\nname = \"b\"\nbase = \"a\"\npackages = []\n");
    build(&t, "recipes/a.toml").code(4).stderr_has("cycle");
    // Itself.
    let t = project(MINE_IMAGE).recipe("c", "[image]\nname = \"c\"\nbase = \"c\"\npackages = []\n");
    build(&t, "recipes/c.toml").code(3).stderr_has("field `image.base`").stderr_has("this recipe itself");
    // An account of the base's name with another uid.
    let t = project(&format!("{MINE_IMAGE}\n[[user]]\nname = \"app\"\nuid = 2000\n"));
    build(&t, "examples/mine/mine.toml").code(4).stderr_has("user `app` (uid 2000) differs from the base's");
}

#[test]
fn a_group_on_a_base_may_list_the_bases_users_but_not_take_its_users_group_ids() {
    // `app` is the base's user: a group of this recipe may list it.
    let t = project(&format!("{MINE_IMAGE}\n[[group]]\nname = \"web\"\ngid = 3000\nmembers = [\"app\"]\n"));
    build(&t, "examples/mine/mine.toml").success();
    let l = tar_listing(&t.path("out/mine.tar"));
    let group = &l.iter().find(|e| e.0 == "etc/group").unwrap().3;
    assert!(group.contains("\nweb:x:3000:app\n") && group.contains("\napp:x:1000:\n"), "{group}");
    // gid 1000 is the group /etc/group gives the base's `app`: another name for it is refused.
    let t = project(&format!("{MINE_IMAGE}\n[[group]]\nname = \"web\"\ngid = 1000\n"));
    build(&t, "examples/mine/mine.toml").code(4).stderr_has("group `web` (gid 1000) differs from the base's `app`");
    // A member nobody defines.
    let t = project(&format!("{MINE_IMAGE}\n[[group]]\nname = \"web\"\ngid = 3000\nmembers = [\"ghost\"]\n"));
    build(&t, "examples/mine/mine.toml")
        .code(4)
        .stderr_has("lists `ghost`, which neither this recipe nor its base defines");
}

#[test]
fn two_recipes_of_one_name_in_one_graph_are_an_error_naming_both() {
    // examples/mine/hello.toml beside the image, recipes/hello.toml for `extra`, which needs it.
    let t = project(MINE_IMAGE);
    std::fs::copy(t.path("recipes/hello.toml"), t.path("examples/mine/hello.toml")).unwrap();
    let extra =
        std::fs::read_to_string(t.path("recipes/extra.toml")).unwrap().replace("build = []", "build = [\"hello\"]");
    std::fs::write(t.path("recipes/extra.toml"), extra).unwrap();
    std::fs::write(t.path("examples/mine/pair.toml"), "[image]\nname = \"pair\"\npackages = [\"hello\", \"extra\"]\n")
        .unwrap();
    let r = build(&t, "examples/mine/pair.toml");
    r.code(4)
        .stderr_has("two recipes for `hello`")
        .stderr_has("examples/mine/hello.toml")
        .stderr_has("recipes/hello.toml");
}
