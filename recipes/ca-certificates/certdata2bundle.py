#!/usr/bin/python3
# certdata2bundle.py: Mozilla NSS's certdata.txt -> one PEM bundle, the certificates Debian's
# ca-certificates 20230311+deb12u1 installs, in the order of Debian's /etc/ssl/certs/ca-certificates.crt.
# Written for compose (Apache-2.0); Python 3 standard library only.
#
# Usage: certdata2bundle.py MOZILLA_DIR OUT_FILE
#   MOZILLA_DIR holds certdata.txt, blacklist.txt and extra/*.crt (the `mozilla/` directory of Debian's
#   ca-certificates source package); the bundle is written to OUT_FILE.tmp, then renamed to OUT_FILE.
#
# Selection, the same as Debian's mozilla/certdata2pem.py (read there, not guessed):
#   1. every CKO_NSS_TRUST object whose CKA_LABEL is not in blacklist.txt and whose
#      CKA_TRUST_SERVER_AUTH is CKT_NSS_TRUSTED_DELEGATOR marks its label as trusted;
#   2. every CKO_CERTIFICATE object whose CKA_LABEL is trusted is in, its DER being CKA_VALUE.
#   Trust is matched to certificates by label, as Debian does (two certificates may share a label:
#   this certdata.txt has two "Autoridad de Certificacion Firmaprofesional CIF A62634068", the 2009
#   and the 2014 issue, both trusted; Debian names the second `..._2.crt`, and so does this). This
#   script also checks what Debian does not: the set selected by label equals the set selected by
#   content (a delegator trust object whose CKA_CERT_SHA1_HASH, CKA_ISSUER and CKA_SERIAL_NUMBER are
#   the certificate's), else it fails.
#   Nothing else filters: like Debian, expired certificates stay in (with a warning) and
#   CKA_NSS_SERVER_DISTRUST_AFTER dates are not applied (a root distrusted for certificates issued
#   after a date still validates the ones issued before it; a bundle file cannot say "only before").
#   3. every extra/*.crt is added as it is: Debian's changelog for 20230311+deb12u1 adds two Sectigo
#      roots from Mozilla's bundle 2.62 this way.
#
# Order: C (byte) order of the file name Debian gives each certificate (the label without its quotes,
# `/` and ` ` and `,` turned to `_`, `(` and `)` to `=`, plus `.crt`; an extra keeps its own name).
# Debian's postinst lists the certificates in sorted order in /etc/ca-certificates.conf and
# update-ca-certificates concatenates them in that order, so under LC_ALL=C the bundle is the same
# bytes as a fresh Debian install's ca-certificates.crt. Each certificate is PEM with 64-column base64.

import base64
import hashlib
import os
import re
import sys
import textwrap


def parse_certdata(path):
    """The objects of certdata.txt: dicts of attribute -> value (str, or bytes for MULTILINE_OCTAL)."""
    objects, obj = [], {}
    in_data, in_obj, multiline = False, False, None
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not in_data:
                in_data = line.startswith("BEGINDATA")
                continue
            if line.startswith("#"):
                continue
            if not line.strip():
                # A blank line ends an object (certdata2pem.py: "Empty lines are significant").
                if in_obj:
                    objects.append(obj)
                    obj, in_obj = {}, False
                continue
            if multiline is not None:
                field, value = multiline
                if line.startswith("END"):
                    obj[field] = bytes(value)
                    multiline = None
                else:
                    value.extend(int(o, 8) for o in re.findall(r"\\([0-3][0-7][0-7])", line))
                continue
            if line.startswith("CKA_CLASS"):
                in_obj = True
            parts = line.strip().split(" ", 2)
            if len(parts) < 2:
                sys.exit(f"{path}:{lineno}: an attribute line needs a name and a type: {line!r}")
            field, kind = parts[0], parts[1]
            if kind == "MULTILINE_OCTAL":
                multiline = (field, bytearray())
                continue
            obj[field] = parts[2] if len(parts) > 2 else None
    if multiline is not None:
        sys.exit(f"{path}: the file ends inside a MULTILINE_OCTAL value")
    if obj:
        objects.append(obj)
    return objects


def read_blacklist(path):
    labels = []
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if line and not line.startswith("#"):
                    labels.append(line.split("#", 1)[0].strip())
    return labels


def debian_file_name(label):
    """certdata2pem.py's file name for a label (a quoted UTF8 value), as bytes."""
    name = label[1:-1].replace("/", "_").replace(" ", "_").replace("(", "=").replace(")", "=").replace(",", "_")
    # certdata2pem.py decodes NSS's backslash escapes of multi-byte UTF-8 this way.
    return name.encode("utf-8").decode("unicode_escape").encode("latin-1")


def pem(der):
    b64 = base64.b64encode(der).decode("ascii")
    return "-----BEGIN CERTIFICATE-----\n" + "\n".join(textwrap.wrap(b64, 64)) + "\n-----END CERTIFICATE-----\n"


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: certdata2bundle.py MOZILLA_DIR OUT_FILE")
    src, out = sys.argv[1], sys.argv[2]
    objects = parse_certdata(os.path.join(src, "certdata.txt"))
    blacklist = read_blacklist(os.path.join(src, "blacklist.txt"))

    # Debian's rule: a label is trusted when one of its trust objects is a server-auth delegator.
    trusted_labels = set()
    delegators = []  # the trust objects themselves, for the content cross-check below
    for o in objects:
        if o.get("CKA_CLASS") != "CKO_NSS_TRUST":
            continue
        label, server = o.get("CKA_LABEL"), o.get("CKA_TRUST_SERVER_AUTH")
        if label in blacklist:
            print(f"blacklisted, left out: {label}")
        elif server == "CKT_NSS_TRUSTED_DELEGATOR":
            trusted_labels.add(label)
            delegators.append(o)
        elif server == "CKT_NSS_NOT_TRUSTED":
            # certdata2pem.py prints a banner and goes on; the label is not trusted either way.
            print(f"distrusted, left out (and not blacklisted): {label}")
        else:
            print(f"not a server-auth trust anchor, left out: {label} ({server})")

    entries = {}  # Debian file name -> PEM text
    by_label, by_content = set(), set()  # SHA-256 of each certificate each rule selects
    for o in objects:
        if o.get("CKA_CLASS") != "CKO_CERTIFICATE":
            continue
        label, der = o["CKA_LABEL"], o["CKA_VALUE"]
        fingerprint = hashlib.sha256(der).hexdigest()
        # The content rule: a delegator trust object names this certificate by SHA-1, issuer and serial.
        if any(
            t.get("CKA_CERT_SHA1_HASH") == hashlib.sha1(der).digest()
            and t.get("CKA_ISSUER") == o.get("CKA_ISSUER")
            and t.get("CKA_SERIAL_NUMBER") == o.get("CKA_SERIAL_NUMBER")
            for t in delegators
        ):
            by_content.add(fingerprint)
        if label not in trusted_labels:
            continue
        by_label.add(fingerprint)
        if isinstance(o.get("CKA_NSS_SERVER_DISTRUST_AFTER"), bytes):
            when = o["CKA_NSS_SERVER_DISTRUST_AFTER"].decode("ascii")
            print(f"kept, as Debian does, despite a server distrust-after date ({when}): {label}")
        name = debian_file_name(label) + b".crt"
        if name in entries:
            print(f"two certificates share the label {label}: the second is {name[:-4].decode()}_2.crt, as in Debian")
            name = name[:-4] + b"_2.crt"  # certdata2pem.py's rule for a repeated file name
        if name in entries:
            sys.exit(f"a third certificate is named {label}: certdata2pem.py would overwrite one")
        entries[name] = pem(der)
    if by_label != by_content:
        # Label matching (Debian's) and content matching must select the same certificates.
        sys.exit(f"label and content matching disagree: {sorted(by_label ^ by_content)}")
    selected = len(entries)

    extra = os.path.join(src, "extra")
    for f in sorted(os.listdir(extra)) if os.path.isdir(extra) else []:
        if not f.endswith(".crt"):
            continue
        with open(os.path.join(extra, f), encoding="ascii") as fh:
            text = fh.read()
        if text.count("-----BEGIN CERTIFICATE-----") != 1:
            sys.exit(f"extra/{f}: expected exactly one PEM certificate")
        if f.encode() in entries:
            sys.exit(f"extra/{f} has the name of a certdata.txt certificate")
        entries[f.encode()] = text if text.endswith("\n") else text + "\n"  # update-ca-certificates' `sed '$a\'`
        print(f"extra, added as Debian does: {f}")

    tmp = out + ".tmp"
    with open(tmp, "w", encoding="ascii", newline="\n") as fh:
        for name in sorted(entries):
            fh.write(entries[name])
    os.replace(tmp, out)
    print(f"{len(entries)} certificates ({len(entries) - selected} extra) -> {out}")


if __name__ == "__main__":
    main()
