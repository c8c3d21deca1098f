//! An SBOM attached to an image as an OCI artifact (`subject`, `artifactType`, the empty config), and
//! found again: distribution 2.8 has no referrers API, so through the `sha256-<hex>` tag.

use super::*;

const SPDX: &str = "application/spdx+json";

fn artifact(client: &Client, subject: &Descriptor, sbom: &[u8]) -> (Vec<u8>, Descriptor) {
    client.push_blob(EMPTY_DIGEST, 2, BlobSource::Bytes(b"{}"), None).unwrap();
    let (digest, size) = blob(sbom);
    client.push_blob(&digest, size, BlobSource::Bytes(sbom), None).unwrap();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": SPDX,
        "config": {"mediaType": OCI_EMPTY, "digest": EMPTY_DIGEST, "size": 2},
        "layers": [{"mediaType": SPDX, "digest": digest, "size": size}],
        "subject": {"mediaType": subject.media_type, "digest": subject.digest, "size": subject.size},
        "annotations": {"org.opencontainers.image.created": "2023-11-14T22:13:20Z"},
    });
    let bytes = serde_json::to_vec(&manifest).unwrap();
    let descriptor = Descriptor {
        media_type: OCI_MANIFEST.into(),
        digest: sha256_digest(&bytes),
        size: bytes.len() as u64,
        artifact_type: Some(SPDX.into()),
        annotations: [("org.opencontainers.image.created".to_string(), "2023-11-14T22:13:20Z".to_string())].into(),
        platform: None,
    };
    (bytes, descriptor)
}

/// What the server itself says at the referrers endpoint (for the record: printed with --nocapture).
fn raw_referrers(server: &Server, repo: &str, digest: &str) -> (u16, String) {
    let url = format!("http://{}/v2/{repo}/referrers/{digest}", server.addr);
    let resp = reqwest::blocking::Client::new().get(&url).header("Accept", OCI_INDEX).send().unwrap();
    (resp.status().as_u16(), resp.text().unwrap_or_default())
}

#[test]
#[ignore = "tier: registry"]
fn registry_artifact_with_subject_found_through_the_referrers_tag() {
    let server = Server::plain();
    let client = server.client("app", &plain_http());
    let (image, image_desc) = push_image(&client, "subject");
    client.put_manifest("v1", OCI_MANIFEST, &image).unwrap();
    let empty = client.referrers(&image_desc.digest).unwrap();
    assert_eq!(empty, Referrers { descriptors: Vec::new(), via: ReferrersVia::TagSchema });

    let (bytes, desc) = artifact(&client, &image_desc, br#"{"spdxVersion":"SPDX-2.3"}"#);
    let put = client.put_manifest(&desc.digest, OCI_MANIFEST, &bytes).unwrap();
    eprintln!("PUT artifact manifest: accepted, digest {}, OCI-Subject header: {}", put.digest, put.subject_accepted);
    assert_eq!(put.digest, desc.digest);
    // distribution 2.8 keeps the manifest as sent but does not index its subject.
    assert!(!put.subject_accepted);
    let (status, body) = raw_referrers(&server, "app", &image_desc.digest);
    eprintln!("GET /v2/app/referrers/<digest>: HTTP {status}: {}", body.trim());
    assert_eq!(status, 404);
    let stored = client.get_manifest(&desc.digest).unwrap().unwrap();
    assert_eq!(stored.bytes, bytes, "the artifact comes back byte for byte, subject and artifactType kept");

    client.add_to_referrers_tag(&image_desc.digest, &desc).unwrap();
    client.add_to_referrers_tag(&image_desc.digest, &desc).unwrap();
    let found = client.referrers(&image_desc.digest).unwrap();
    assert_eq!(found, Referrers { descriptors: vec![desc.clone()], via: ReferrersVia::TagSchema });

    // A second attachment joins the first in the same index.
    let (bytes2, desc2) = artifact(&client, &image_desc, br#"{"bomFormat":"CycloneDX"}"#);
    client.put_manifest(&desc2.digest, OCI_MANIFEST, &bytes2).unwrap();
    client.add_to_referrers_tag(&image_desc.digest, &desc2).unwrap();
    let found = client.referrers(&image_desc.digest).unwrap();
    assert_eq!(found.descriptors, vec![desc, desc2]);
    let tag = client.get_manifest(&format!("sha256-{}", &image_desc.digest[7..])).unwrap().unwrap();
    assert_eq!(tag.media_type, OCI_INDEX);
    // The image itself is unchanged, and its tag still points at it.
    assert_eq!(client.get_manifest("v1").unwrap().unwrap().digest, image_desc.digest);
}

#[test]
#[ignore = "tier: registry"]
fn registry_concurrent_writers_of_one_referrers_tag_lose_no_entry() {
    let server = Server::plain();
    let client = server.client("app", &plain_http());
    let (image, image_desc) = push_image(&client, "subject");
    client.put_manifest("v1", OCI_MANIFEST, &image).unwrap();
    let artifacts: Vec<(Vec<u8>, Descriptor)> =
        (0..8).map(|n| artifact(&client, &image_desc, format!("{{\"n\":{n}}}").as_bytes())).collect();
    for (bytes, d) in &artifacts {
        client.put_manifest(&d.digest, OCI_MANIFEST, bytes).unwrap();
    }
    // Eight writers at once, each with its own connection: without the read-back, most runs lose some.
    std::thread::scope(|s| {
        for (_, d) in &artifacts {
            let writer = server.client("app", &plain_http());
            let subject = image_desc.digest.clone();
            s.spawn(move || writer.add_to_referrers_tag(&subject, d).unwrap());
        }
    });
    let found = client.referrers(&image_desc.digest).unwrap().descriptors;
    for (_, d) in &artifacts {
        assert!(found.contains(d), "{} lost from the referrers tag ({} of 8 there)", d.digest, found.len());
    }
}
