"""Run by the compat virtual environment's Python (>= 3.12), never imported by the metastore.

``client_submit_driver.py URL FIXTURES OUT``: drive our submission, download, tag and expedite routes
with the real azul-client in open mode (``auth_type = none``) and write a JSON report to OUT
(azul-client logs to stdout, so stdout is not ours). Every call's answer is parsed by the client's
own azul-bedrock models; the report carries what the test compares.
"""

import hashlib
import io
import json
import sys
from pathlib import Path

import cart
from azul_bedrock import models_network as azm
from azul_client import Api, Config
from azul_client.api.binaries_data import AugmentedStream


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def uncart(data: bytes) -> bytes:
    out = io.BytesIO()
    cart.unpack_stream(io.BytesIO(data), out)
    return out.getvalue()


def main(url: str, fixtures: str, out: str) -> None:
    content = Path(fixtures)
    api = Api(Config(azul_url=url, auth_type="none"))
    data = api.binaries_data
    report: dict = {}
    refs = {"user": "compat"}
    # plain bytes: the client CaRTs them before sending
    plain = data.upload(b"plain bytes from azul-client\n" * 4, "samples", references=refs, filename="plain.txt",
                        security="LOW", refresh=True,
                        augmented_streams=[AugmentedStream(azm.DataLabel.TEXT, "notes.txt", b"some notes\n")])
    report["plain"] = plain.model_dump(mode="json", exclude_none=True)
    # already neutered: sent as it is
    neutered = data.upload(content / "fake.txt.cart", "samples", references=refs, filename="fake.txt",
                           security="LOW", refresh=True)
    report["neutered"] = neutered.model_dump(mode="json", exclude_none=True)
    extracted = data.upload(content / "fake_infected.zip", "samples", references=refs, security="LOW",
                            extract=True, password="infected", refresh=True)
    report["extracted"] = extracted.model_dump(mode="json", exclude_none=True)
    dataless = data.upload_dataless(plain.sha256, "virustotal", security="LOW", refresh=True)
    report["dataless"] = dataless.sha256
    child = data.upload_child(b"a child from azul-client\n" * 4, plain.sha256, {"action": "dropped"},
                              filename="child.txt", security="LOW", refresh=True)
    report["child"] = child.sha256
    report["check_data"] = [data.check_data(plain.sha256), data.check_data("0" * 64)]
    report["download_sha256"] = sha(uncart(data.download(neutered.sha256)))
    report["bulk_magic"] = data.download_bulk([plain.sha256, neutered.sha256])[:2].decode("latin-1")
    report["augmented"] = data.download_augmented_stream(plain.sha256, sha(b"some notes\n")).decode()
    meta = api.binaries_meta
    meta.create_tag_on_binary(plain.sha256, "compat-tag", "LOW")
    report["untag"] = meta.delete_tag_on_binary(plain.sha256, "compat-tag").model_dump(mode="json")
    feats = api.features
    report["fv_tag"] = [feats.create_feature_value_tag("compat", "filename", "plain.txt", "LOW"),
                        feats.delete_feature_value_tag("compat", "filename", "plain.txt")]
    data.expedite_processing(plain.sha256, bypass_cache=True)
    report["expedited"] = True
    with open(out, "w") as f:
        json.dump(report, f)


if __name__ == "__main__":
    main(*sys.argv[1:4])
