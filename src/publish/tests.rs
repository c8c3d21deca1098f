use super::*;

fn reference(s: &str) -> Reference {
    Reference::parse(s).unwrap()
}

#[test]
fn a_push_without_a_tag_takes_the_layouts_then_latest() {
    let r = reference("127.0.0.1:5000/team/busybox");
    assert_eq!(with_tag(&r, Some("docker.io/library/busybox:1.37.0")).tag.as_deref(), Some("1.37.0"));
    assert_eq!(with_tag(&r, Some("1.0")).tag.as_deref(), Some("1.0"), "a layout's ref name is a tag");
    assert_eq!(with_tag(&r, None).tag.as_deref(), Some("latest"));
    assert_eq!(with_tag(&r, Some("localhost:5000/busybox")).tag.as_deref(), Some("latest"), "a port is not a tag");
    let tagged = reference("127.0.0.1:5000/team/busybox:mine");
    assert_eq!(with_tag(&tagged, Some("x:1")).tag.as_deref(), Some("mine"));
}
