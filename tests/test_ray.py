"""Ray Data batch prediction, on a Ray instance started on this machine
(Ray 2.60 no longer has ``local_mode``): the predictions equal the
single-process path's, from JSON Lines and from Parquet."""

import json

import pytest

ray = pytest.importorskip("ray", reason="the Ray test needs the ray extra: pip install -e '.[dev]'")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    yield
    ray.shutdown()


def _articles():
    words = ["The council met on Monday.", "Police said the road was closed.", "It could rain, experts say.",
             "Sign up for our newsletter.", "The mayor reportedly resigned."]
    arts = []
    for k in range(30):
        sents = [words[(k + j) % len(words)] for j in range(1 + k % 4)]
        arts.append({"id": f"a{k}", "text": " ".join(sents)} if k % 3 else {"id": f"a{k}", "sentences": sents})
    return arts


def _read_output(out, fmt):
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return pq.read_table(out).to_pylist()
    return [json.loads(line) for f in sorted(out.glob("*.json")) for line in f.read_text().splitlines() if line]


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_ray_predictions_equal_the_single_process_path(local_ray, tiny_clf, tmp_path, fmt):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from factsift.cli import main
    from factsift.ray import predict_files

    model = tiny_clf.save_pretrained(tmp_path / "model")
    arts = _articles()
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(a) + "\n" for a in arts), encoding="utf-8")
    if fmt == "parquet":
        src = tmp_path / "in.parquet"
        pq.write_table(pa.Table.from_pylist([{"id": a["id"], "text": a.get("text"), "sentences": a.get("sentences")}
                                             for a in arts]), src)

    expected = tmp_path / "single.jsonl"
    assert main(["predict", "--model", str(model), "--dtype", "float32", "--output", str(expected),
                 str(tmp_path / "in.jsonl") if fmt == "parquet" else str(src)]) == 0
    want = {r["id"]: r for r in map(json.loads, expected.read_text().splitlines())}

    out = tmp_path / "ray-out"
    predict_files([src], out, model, output_format=fmt, workers=2, num_cpus=0.5, dtype="float32",
                  articles_per_batch=8)  # two model replicas; one CPU left to read and write
    got = {r["id"]: r for r in _read_output(out, fmt)}
    assert set(got) == set(want) and len(want) == 30
    for art_id, w in want.items():
        g = got[art_id]
        assert g["warnings"] == w.get("warnings", [])
        assert g["composition"] == pytest.approx(w["composition"], abs=1e-6)
        assert [(s["text"], s["start"], s["end"], s["label"]) for s in g["sentences"]] == \
               [(s["text"], s["start"], s["end"], s["label"]) for s in w["sentences"]]
        for gs, ws in zip(g["sentences"], w["sentences"]):
            assert gs["score"] == pytest.approx(ws["score"], abs=1e-5)
            assert gs["probabilities"] == pytest.approx(ws["probabilities"], abs=1e-5)


def test_rows_without_an_id_are_refused():
    from factsift.ray import _article

    assert _article({"id": 3, "text": "A.", "sentences": None}) == {"id": "3", "text": "A."}
    assert _article({"id": "b", "text": None, "sentences": [{"text": "A.", "label": "x"}]}) == \
           {"id": "b", "sentences": ["A."]}
    with pytest.raises(ValueError, match="no 'id'"):
        _article({"text": "A."})
    with pytest.raises(ValueError, match="neither 'text' nor 'sentences'"):
        _article({"id": "c", "text": None})


def test_numpy_and_pandas_batches_become_rows():
    import numpy as np
    import pandas as pd

    from factsift.ray import _article, _rows

    batch = {"id": np.array(["a", "b"]), "text": np.array(["One. Two.", None], dtype=object),
             "sentences": np.array([None, np.array(["Three."], dtype=object)], dtype=object)}
    rows = _rows(batch)
    assert [_article(r) for r in rows] == [{"id": "a", "text": "One. Two."}, {"id": "b", "sentences": ["Three."]}]
    assert _rows(pd.DataFrame({"id": ["a"], "text": ["One."]})) == [{"id": "a", "text": "One."}]


def test_workers_that_leave_no_cpu_are_refused_on_a_local_instance(local_ray, tmp_path, monkeypatch, capsys):
    from factsift.ray import main

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    src = tmp_path / "in.jsonl"
    src.write_text('{"id": "a", "text": "One."}\n', encoding="utf-8")
    assert main([str(src), "--output", str(tmp_path / "out"), "--workers", "2"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: 2 worker(s) x 1 CPU(s) take all 2 CPUs") and "--num-cpus" in err
    assert not (tmp_path / "out").exists()
