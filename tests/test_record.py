"""The typed record (format 3) and the reader of format 2 files."""
import json

import pytest

from mpbench import record


def test_format_2_files_are_read_with_their_details_keys_as_fields_and_format_3_round_trips(tmp_path):
    v2 = {"record_version": 2, "stage": "train", "status": "ok", "settings": {"device": "cpu", "fold": 0},
          "iou": 0.8, "details": {"best_epoch": 7, "epochs": 9, "iou_pooled": 0.82, "history": []}}
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"record_version": 2, "records": [v2]}))
    (rec,) = record.read(path)
    assert (rec.best_epoch, rec.epochs, rec.iou_pooled, rec.details) == (7, 9, 0.82, {"history": []})
    record.write(tmp_path / "new.json", [rec])
    assert json.loads((tmp_path / "new.json").read_text())["record_version"] == 3
    assert record.read(tmp_path / "new.json") == [rec]
    # In format 3 such a key belongs in its field: a file holding it in details is refused, naming it.
    bad = {**rec.to_json(), "details": {"best_epoch": 7}}
    path.write_text(json.dumps({"record_version": 3, "records": [bad]}))
    with pytest.raises(record.ResultFileError, match=r"best_epoch.*are Record fields"):
        record.read(path)
