#!/usr/bin/env python3
"""Validates the custom resources kubernetes-validate has no schema for.

    python3 deploy/k8s/validate_crds.py FILE.yaml...

ServiceMonitor and PrometheusRule against the prometheus-operator CRDs' models
(cloudcoil-models-prometheus-operator, pydantic, generated from the CRDs'
OpenAPI schemas), refusing any field the model does not know; Argo CD's
Application and AppProject and External Secrets' ExternalSecret and
SecretStore against the JSON schemas in deploy/k8s/schemas (see its README).
Any other custom kind fails: a new one needs a schema here first.
Prints one line per file and exits non-zero on the first file with errors.
"""
import json
import pathlib
import sys

import jsonschema
import yaml

HERE = pathlib.Path(__file__).resolve().parent
BUILTIN_GROUPS = {
    "v1", "apps/v1", "autoscaling/v2", "policy/v1", "networking.k8s.io/v1",
    "rbac.authorization.k8s.io/v1", "batch/v1",
}
JSON_SCHEMAS = {
    ("argoproj.io/v1alpha1", "Application"): "argoproj.io_v1alpha1_Application.json",
    ("argoproj.io/v1alpha1", "AppProject"): "argoproj.io_v1alpha1_AppProject.json",
    ("external-secrets.io/v1", "ExternalSecret"): "external-secrets.io_v1_ExternalSecret.json",
    ("external-secrets.io/v1", "SecretStore"): "external-secrets.io_v1_SecretStore.json",
}
PROMETHEUS_KINDS = {"ServiceMonitor", "PrometheusRule"}


def unknown_fields(given, kept, path=""):
    """Fields of `given` that a round trip through the model dropped."""
    found = []
    if isinstance(given, dict):
        for key, value in given.items():
            if not isinstance(kept, dict) or key not in kept:
                found.append(f"{path}/{key}")
            else:
                found += unknown_fields(value, kept[key], f"{path}/{key}")
    elif isinstance(given, list) and isinstance(kept, list):
        for i, (a, b) in enumerate(zip(given, kept)):
            found += unknown_fields(a, b, f"{path}/{i}")
    return found


def check(obj):
    """Problems of one object; None when it is a built-in kind (not ours to check)."""
    api, kind = obj.get("apiVersion", ""), obj.get("kind", "")
    if api in BUILTIN_GROUPS:
        return None
    if api == "monitoring.coreos.com/v1" and kind in PROMETHEUS_KINDS:
        from cloudcoil.models.prometheus_operator import v1  # noqa: PLC0415

        try:
            model = getattr(v1, kind).model_validate(obj)
        except Exception as e:  # pydantic.ValidationError
            return [str(e)]
        kept = model.model_dump(by_alias=True, exclude_unset=True, mode="json")
        return [f"unknown field {p}" for p in unknown_fields(obj, kept)]
    name = JSON_SCHEMAS.get((api, kind))
    if name is None:
        return [f"no schema for {api} {kind}: add one to deploy/k8s/validate_crds.py"]
    schema = json.loads((HERE / "schemas" / name).read_text())
    validator = jsonschema.Draft202012Validator(schema)
    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in validator.iter_errors(obj)]


def main(files):
    failed = False
    for f in files:
        counts = {}
        problems = []
        for obj in yaml.safe_load_all(pathlib.Path(f).read_text()):
            if not obj:
                continue
            result = check(obj)
            if result is None:
                continue
            counts[obj["kind"]] = counts.get(obj["kind"], 0) + 1
            problems += [f"{obj['kind']}/{obj['metadata'].get('name')}: {p}" for p in result]
        summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "no custom resources"
        if problems:
            failed = True
            print(f"FAIL {f}: {summary}")
            for p in problems:
                print(f"  {p}")
        else:
            print(f"ok   {f}: {summary}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
