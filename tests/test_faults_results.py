"""Issue 23 cases 7 and 9 (last bullet), on the results side: speed-ups never pair runs made with other
timing-relevant settings or software without saying so, and result files with impossible values are refused."""
import dataclasses

import pytest
from test_tables import timed_record, write_records

from mpbench.results.tables import summary_table, write_tables


def test_speedups_pair_only_runs_whose_timing_settings_agree_and_name_what_differs(tmp_path):
    """Issue 23 case 7: data placement, framework version, commit differ between the two sides."""
    recs = []
    for k in range(3):
        for p, t in (("fp32", 0.015), ("mixed_bf16", 0.010)):
            r = timed_record(p, k, t, seed=10 * k + len(p))
            ref = p == "fp32"
            r.settings.update(data_placement="host" if ref else "device", threads=2,
                              learning_rate=5e-4 if ref else 5e-3)
            r.provenance.update(torch="2.12.0" if ref else "2.13.0", git_commit="abc" if ref else "def")
            recs.append(r)
    _, sp = write_tables(write_records(tmp_path, recs), tmp_path / "s.csv", tmp_path / "sp.csv")
    (r,) = sp[sp["phase"] == "train"].to_dict("records")
    assert r["differs"] == ("data_placement: device vs host; framework_version: 2.13.0 vs 2.12.0; "
                            "git_commit: def vs abc")
    assert "settings differ" in r["inconclusive_because"] and "learning_rate" not in r["differs"]
    agree = [dataclasses.replace(x, settings={**x.settings, "data_placement": "host", "learning_rate": 5e-4},
                                 provenance={**x.provenance, "torch": "2.13.0", "git_commit": "def"}) for x in recs]
    _, sp = write_tables(write_records(tmp_path, agree), tmp_path / "s.csv", tmp_path / "sp.csv")
    assert sp["differs"].isna().all() and sp["inconclusive_because"].isna().all()


@pytest.mark.parametrize(("edit", "key"), [
    (lambda r: setattr(r, "iou", 5.0), "iou = 5.0"),
    (lambda r: setattr(r, "iou", float("nan")), "iou = nan"),
    (lambda r: r.latency.update(samples_s=[1e-298] * 3), "latency.samples_s[0] = 1e-298"),
    (lambda r: r.latency["per_sample_s"].update(mean=-0.01), "latency.per_sample_s.mean = -0.01"),
    (lambda r: r.latency.update(throughput=1e298), "latency.throughput = 1e+298"),
    (lambda r: r.latency.update(throughput=float("nan")), "latency.throughput = nan"),
    (lambda r: setattr(r, "joules_per_sample", -3.0), "joules_per_sample = -3.0"),
])
def test_result_files_with_impossible_values_are_refused_naming_the_file_and_key(tmp_path, edit, key):
    """Issue 23 case 9: IoU 5.0, a speed-up of 1e298, NaN where a number must be."""
    rec = timed_record("fp32", 0, 0.01)
    edit(rec)
    (path,) = write_records(tmp_path, [rec])
    with pytest.raises(ValueError, match="impossible value") as e:
        summary_table([path])
    msg = str(e.value)
    assert str(path) in msg and key in msg and "\n" not in msg and "delete it and rerun" in msg

