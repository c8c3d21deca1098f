#!/usr/bin/env python3
"""Validates compose's records with the reference libraries (used by the integration tests).

usage: records.py cyclonedx FILE | provenance FILE | openvex FILE

- cyclonedx: cyclonedx-python-lib's JsonStrictValidator for schema 1.6.
- provenance: parsed as an in-toto Statement v1 (in-toto-attestation's protobufs, unknown fields
  rejected), validated, and its predicate parsed as SLSA provenance v1 with every resource descriptor
  validated.
- openvex: the official OpenVEX 0.2.0 JSON schema (openvex_json_schema_0.2.0.json next to this
  script; README.md says where it comes from) with python-jsonschema, in the draft the schema's
  `$schema` declares, formats checked (date-time, iri, uri: the checkers come with
  jsonschema[format-nongpl], which cyclonedx-python-lib[json-validation] requires). Every error is
  printed, with its path in the document.
Prints `valid` and exits 0, or prints the problem and exits 1.
"""
import json
import os
import sys

OPENVEX_SCHEMA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "openvex_json_schema_0.2.0.json")


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


def openvex(text):
    import jsonschema

    with open(OPENVEX_SCHEMA) as f:
        schema = json.load(f)
    # The validator class of the draft the schema declares (2020-12), not jsonschema's default.
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    # A format without a checker would pass anything: require one for every format the schema uses,
    # so a missing optional dependency fails here instead of passing silently.
    used = set(formats(schema))
    missing = used - set(cls.FORMAT_CHECKER.checkers)
    if missing:
        raise SystemExit(f"jsonschema cannot check the formats {sorted(missing)} (pip install 'jsonschema[format-nongpl]')")
    validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(json.loads(text)), key=lambda e: list(e.absolute_path))
    for e in errors:
        where = "/".join(str(p) for p in e.absolute_path) or "(document)"
        print(f"{where}: {e.message}")
        for sub in e.context:  # why each branch of an anyOf/oneOf failed
            print(f"  {sub.message}")
    if errors:
        raise SystemExit(f"invalid OpenVEX 0.2.0 ({cls.__name__}): {len(errors)} errors")
    print(f"{cls.__name__}, formats {sorted(used)} checked")


def formats(node):
    """Every `format` keyword's value in a schema."""
    if isinstance(node, dict):
        if isinstance(node.get("format"), str):
            yield node["format"]
        for v in node.values():
            yield from formats(v)
    elif isinstance(node, list):
        for v in node:
            yield from formats(v)


def main():
    kind, path = sys.argv[1], sys.argv[2]
    with open(path) as f:
        text = f.read()
    {"cyclonedx": cyclonedx, "provenance": provenance, "openvex": openvex}[kind](text)
    print("valid")


if __name__ == "__main__":
    main()
