#!/usr/bin/env python3
"""Validates compose's records with the reference libraries (used by the integration tests).

usage: records.py cyclonedx FILE | provenance FILE

- cyclonedx: cyclonedx-python-lib's JsonStrictValidator for schema 1.6.
- provenance: parsed as an in-toto Statement v1 (in-toto-attestation's protobufs, unknown fields
  rejected), validated, and its predicate parsed as SLSA provenance v1 with every resource descriptor
  validated.
Prints `valid` and exits 0, or prints the problem and exits 1.
"""
import json
import sys


def cyclonedx(text):
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    if errors:
        raise SystemExit(f"invalid CycloneDX 1.6: {errors!r}")


def provenance(text):
    from google.protobuf import json_format
    from in_toto_attestation.predicates.provenance.v1 import provenance_pb2
    from in_toto_attestation.v1 import statement_pb2
    from in_toto_attestation.v1.resource_descriptor import ResourceDescriptor
    from in_toto_attestation.v1.statement import Statement

    pb = json_format.Parse(text, statement_pb2.Statement())
    Statement.copy_from_pb(pb).validate()
    if pb.predicate_type != "https://slsa.dev/provenance/v1":
        raise SystemExit(f"predicateType is {pb.predicate_type!r}")
    pred = json.dumps(json.loads(text)["predicate"])
    prov = json_format.Parse(pred, provenance_pb2.Provenance())
    bd = prov.build_definition
    if not bd.build_type:
        raise SystemExit("buildDefinition.buildType is empty")
    if not prov.run_details.builder.id:
        raise SystemExit("runDetails.builder.id is empty")
    for rd in list(bd.resolved_dependencies) + list(prov.run_details.byproducts):
        ResourceDescriptor.copy_from_pb(rd).validate()
        if not rd.digest:
            raise SystemExit(f"resource without a digest: {rd}")
    print(f"{len(pb.subject)} subjects, {len(bd.resolved_dependencies)} resolved dependencies")


def main():
    kind, path = sys.argv[1], sys.argv[2]
    with open(path) as f:
        text = f.read()
    {"cyclonedx": cyclonedx, "provenance": provenance}[kind](text)
    print("valid")


if __name__ == "__main__":
    main()
