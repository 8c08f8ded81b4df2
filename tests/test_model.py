import math
import warnings

import pytest

from factsift import ArticlePrediction, SentenceClassifier, SentencePrediction
from factsift.data.labels import LABELS
from factsift.model.base import ModelNotFoundError
from factsift.model.encoding import WindowSpec, build_windows, clip_context, plan_windows


def test_windows_cover_each_sentence_once():
    lengths = [5, 30, 2, 8, 40, 3, 3, 12, 9, 1]
    for spec in (WindowSpec(0, 8, 64, 40), WindowSpec(1, 4, 64, 40), WindowSpec(2, 8, 256, 40), WindowSpec(3, 2, 48, 40),
                 WindowSpec(2, 4, 128, 40, prefix=2)):
        targets = []
        for left, first, end, right in plan_windows(lengths, spec):
            assert left <= first < end <= right
            prefix = sum(min(x, 32) + 1 for x in lengths[:spec.prefix]) if spec.context else 0
            assert sum(lengths[left:right]) + (right - left) + 1 + prefix <= spec.max_length or right - left == 1
            targets.extend(range(first, end))
        assert targets == list(range(len(lengths)))


def test_clipped_context_keeps_both_ends_and_whole_targets():
    assert clip_context(list(range(10)), 4) == [0, 1, 8, 9]
    assert clip_context(list(range(10)), 5) == [0, 1, 2, 8, 9]
    assert clip_context(list(range(3)), 4) == [0, 1, 2] and clip_context(list(range(10)), 0) == list(range(10))
    token_ids = [[100 + s] * n for s, n in enumerate([12, 3, 20, 7, 15, 2, 30, 9])]
    for clip in (0, 4, 6):
        spec = WindowSpec(2, 3, 64, 40, context_tokens=clip)
        plans = plan_windows([len(t) for t in token_ids], spec)
        windows = build_windows(token_ids, spec, cls_id=1, sep_id=2)
        assert [t for w in windows for t in w.targets if t >= 0] == list(range(len(token_ids)))
        for (left, first, end, right), w in zip(plans, windows):
            assert len(w.input_ids) <= spec.max_length
            for k, s in enumerate(range(left, right)):
                n = w.sentence_ids.count(k)
                assert n == (len(token_ids[s]) if first <= s < end or not clip else min(clip, len(token_ids[s])))
    # clipping the context lets more targets share a window within the same token budget
    lengths = [25] * 16
    assert len(plan_windows(lengths, WindowSpec(2, 8, 256, 64, context_tokens=8))) < len(
        plan_windows(lengths, WindowSpec(2, 8, 256, 64)))


def test_long_sentences_keep_their_head_and_their_end():
    from factsift.model.encoding import tokenize_sentences

    class Tok:
        sep_token_id = 2

        def __call__(self, texts, **_):
            return {"input_ids": [[int(w) for w in t.split()] for t in texts]}

    ids, cut = tokenize_sentences(Tok(), [" ".join(map(str, range(10, 30))), "5 6", ""], 8)
    assert ids == [[10, 11, 12, 13, 14, 15, 28, 29], [5, 6], [2]] and cut == [True, False, False]


def test_predict_types_and_probabilities(tiny_clf):
    preds = tiny_clf.predict(["The mayor said the road would close.", "Sign up to our newsletter."])
    assert len(preds) == 2 and all(isinstance(p, SentencePrediction) for p in preds)
    for p in preds:
        assert list(p.probabilities) == list(LABELS)
        assert math.isclose(sum(p.probabilities.values()), 1.0, abs_tol=1e-5)
        assert p.label == max(p.probabilities, key=p.probabilities.get) and p.score == p.probabilities[p.label]
        assert p.start is None


def test_predict_rejects_a_bare_string(tiny_clf):
    with pytest.raises(TypeError, match="not a str"):
        tiny_clf.predict("just one sentence")
    with pytest.raises(TypeError, match="sentence 1 is int"):
        tiny_clf.predict(["ok", 3])


def test_predict_article_raw_text_and_sentences(tiny_clf, seed_article):
    art = tiny_clf.predict_article(seed_article["text"])
    assert isinstance(art, ArticlePrediction) and len(art.sentences) == 28
    for s in art.sentences:
        assert art.text[s.start:s.end] == s.text
    assert math.isclose(sum(art.composition.values()), 1.0)
    given = tiny_clf.predict_article(sentences=["One sentence.", "Another one."], id="a1")
    assert given.id == "a1" and [s.text for s in given.sentences] == ["One sentence.", "Another one."]
    assert given.text[given.sentences[1].start:given.sentences[1].end] == "Another one."
    with pytest.raises(TypeError, match="exactly one"):
        tiny_clf.predict_article()


def test_punctuation_fragments_follow_the_sentence_they_close(tiny_clf):
    """LABELS.md: a stray closing quote or full stop split off from its sentence
    takes that sentence's label; in predict() sentences are independent."""
    sents = ["“We will rebuild the bridge by spring,", "”", "The council met on Tuesday.", "...", "."]
    art = tiny_clf.predict_article(sentences=sents)
    got = art.sentences
    assert got[1].probabilities == got[0].probabilities and got[1].label == got[0].label
    assert got[3].probabilities == got[2].probabilities and got[4].probabilities == got[2].probabilities
    lone = tiny_clf.predict_article(sentences=["”", "The council met."]).sentences
    assert lone[0].label in tiny_clf.labels  # nothing before it: the model's own reading
    alone = tiny_clf.predict(sents)
    assert alone[1].probabilities != alone[0].probabilities


def test_same_input_same_output(tiny_clf, seed_article):
    a = tiny_clf.predict_article(seed_article["text"])
    b = tiny_clf.predict_article(seed_article["text"])
    assert a == b


def test_empty_and_whitespace_text(tiny_clf):
    for text in ("", "  \n\t "):
        art = tiny_clf.predict_article(text)
        assert art.sentences == () and set(art.composition.values()) == {0.0}
        assert "no sentences" in art.warnings[0]
    assert tiny_clf.predict([]) == []


def test_very_long_sentence_is_cut_with_a_warning(tiny_clf):
    with pytest.warns(UserWarning, match="cut to that length"):
        art = tiny_clf.predict_article("word " * 10_000)
    assert art.sentences[0].truncated and any("cut" in w for w in art.warnings)


def test_save_load_roundtrip(tiny_clf, tmp_path, seed_article):
    before = tiny_clf.predict_article(seed_article["text"])
    tiny_clf.save_pretrained(tmp_path / "m")
    again = SentenceClassifier.from_pretrained(tmp_path / "m", dtype="float32")
    after = again.predict_article(seed_article["text"])
    for x, y in zip(before.sentences, after.sentences):
        assert x.label == y.label
        assert all(math.isclose(x.probabilities[k], y.probabilities[k], abs_tol=1e-5) for k in LABELS)


def test_full_finetune_model_saves_its_encoder(tiny_config, tmp_path):
    from dataclasses import replace

    clf = SentenceClassifier.build(replace(tiny_config, adapter="none"))
    clf.save_pretrained(tmp_path / "full")
    assert (tmp_path / "full" / "encoder" / "config.json").is_file()
    loaded = SentenceClassifier.from_pretrained(tmp_path / "full", dtype="float32")
    assert loaded.predict(["Hello world."])[0].label in LABELS


def test_missing_and_damaged_models(tiny_clf, tmp_path):
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        SentenceClassifier.from_pretrained(tmp_path / "nope")
    tiny_clf.save_pretrained(tmp_path / "m")
    weights = tmp_path / "m" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(ModelNotFoundError, match="truncated or damaged"):
        SentenceClassifier.from_pretrained(tmp_path / "m")
    weights.unlink()
    with pytest.raises(ModelNotFoundError, match="has no model.safetensors"):
        SentenceClassifier.from_pretrained(tmp_path / "m")
    (tmp_path / "m" / "config.json").write_text("{", encoding="utf-8")
    with pytest.raises(ModelNotFoundError, match="not valid JSON"):
        SentenceClassifier.from_pretrained(tmp_path / "m")


def test_base_model_not_found_offline(tmp_path):
    from factsift.model.base import load_encoder

    with pytest.raises(ModelNotFoundError, match="does not exist"):
        load_encoder(str(tmp_path / "missing-dir"))


def test_device_must_exist(tiny_config, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    clf = SentenceClassifier.build(tiny_config)
    clf.save_pretrained(tmp_path / "m")
    with pytest.raises(ValueError, match="no usable CUDA GPU"):
        SentenceClassifier.from_pretrained(tmp_path / "m", device="cuda")


def test_import_is_light():
    import subprocess
    import sys

    code = "import sys, factsift; print('torch' in sys.modules, 'transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_no_warnings_on_plain_predict(tiny_clf):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tiny_clf.predict(["A plain sentence."])


def test_html_input_is_stripped_with_a_note(tiny_clf):
    page = ("<html><head><style>p{}</style></head><body><h1>Council votes</h1>"
            "<p>The council voted on Monday. The mayor said it was a good day.</p><div>Share this article</div></body></html>")
    art = tiny_clf.predict_article(page)
    assert [s.text for s in art.sentences] == ["Council votes", "The council voted on Monday.",
                                               "The mayor said it was a good day.", "Share this article"]
    assert "HTML" in art.warnings[0] and all(art.text[s.start:s.end] == s.text for s in art.sentences)


def test_other_languages_work_with_a_note(tiny_clf):
    text = ("Der Bürgermeister sagte am Montag, die Straße werde im Sommer gesperrt. Die Arbeiten sollen drei Monate "
            "dauern. Anwohner können Parkausweise beantragen. Der Gemeinderat stimmte dem Plan mit großer Mehrheit zu.")
    art = tiny_clf.predict_article(text)
    assert len(art.sentences) == 4 and any("English" in w for w in art.warnings)
    assert not tiny_clf.predict_article("The mayor said on Monday that the road would close in the summer, and "
                                        "that the works would last for three months while residents wait.").warnings


def test_article_prefix_leads_windows_far_from_the_top():
    from factsift.model.encoding import build_windows

    ids = [[10 + i] * 3 for i in range(12)]
    windows = build_windows(ids, WindowSpec(1, 2, 40, 10, prefix=2), cls_id=1, sep_id=2)
    late = windows[-1]
    assert late.input_ids[:9] == [1, 10, 10, 10, 2, 11, 11, 11, 2]  # [CLS] s0 [SEP] s1 [SEP]
    assert late.sentence_ids[:9] == [-1] * 9  # read-only: never pooled as a sentence
    assert windows[0].input_ids[1:4] == [10, 10, 10] and windows[0].sentence_ids[1] == 0  # no duplicate at the top


@pytest.mark.slow
def test_compiled_prediction_matches_eager(tiny_clf, seed_article):
    eager = tiny_clf.predict_article(seed_article["text"])
    tiny_clf.compile, tiny_clf._ready_for_inference = True, False
    compiled = tiny_clf.predict_article(seed_article["text"])
    for x, y in zip(eager.sentences, compiled.sentences):
        assert x.label == y.label
        assert all(math.isclose(x.probabilities[k], y.probabilities[k], abs_tol=1e-4) for k in LABELS)


def test_failed_compile_warns_and_predicts_eagerly(tiny_clf, seed_article, monkeypatch):
    import torch

    def broken_compile(module, **_):
        def fail(**__):
            raise RuntimeError("no C++ compiler found\nmore detail")
        return fail

    eager = tiny_clf.predict_article(seed_article["text"])
    monkeypatch.setattr(torch, "compile", broken_compile)
    tiny_clf.compile, tiny_clf._ready_for_inference = True, False
    with pytest.warns(UserWarning, match="torch.compile failed .*no C\\+\\+ compiler found\\); predicting without it"):
        again = tiny_clf.predict_article(seed_article["text"])
    assert [s.label for s in again.sentences] == [s.label for s in eager.sentences]


def test_own_bert_engine_matches_transformers(tiny_clf, tmp_path, seed_article):
    """Prediction runs on factsift's own BERT (model/bert.py); it must give what transformers gives."""
    from factsift.model.bert import BertEncoder

    tiny_clf.save_pretrained(tmp_path / "m")
    own = SentenceClassifier.from_pretrained(tmp_path / "m", dtype="float32")
    hf = SentenceClassifier.from_pretrained(tmp_path / "m", dtype="float32", engine="transformers")
    assert isinstance(own.network.encoder, BertEncoder)
    assert not isinstance(hf.network.encoder, BertEncoder)
    texts = [s["text"] for s in seed_article["sentences"]] + ["Ünïcödé — “quotes”, emoji 🙂 and\ttabs.", "x" * 300]
    assert own.tokenizer(texts)["input_ids"] == hf.tokenizer(texts, add_special_tokens=False, truncation=False)["input_ids"]
    for name in ("cls_token_id", "sep_token_id", "pad_token_id", "mask_token_id", "unk_token_id"):
        assert getattr(own.tokenizer, name) == getattr(hf.tokenizer, name) is not None, name
    a, b = own.predict_article(seed_article["text"]), hf.predict_article(seed_article["text"])
    for x, y in zip(a.sentences, b.sentences):
        assert x.label == y.label
        assert all(math.isclose(x.probabilities[k], y.probabilities[k], abs_tol=1e-5) for k in LABELS)
    # saved again from the own-BERT model, the adapter is unchanged
    own.save_pretrained(tmp_path / "again")
    again = SentenceClassifier.from_pretrained(tmp_path / "again", dtype="float32")
    assert [s.probabilities for s in again.predict_article(seed_article["text"]).sentences] == \
        [s.probabilities for s in a.sentences]


def test_lora_layers_adapts_only_the_top_layers(tiny_config, tmp_path, seed_article):
    """``lora_layers: 1`` on the two-layer test encoder: adapters in layer 1
    only, layer 0 frozen whole; both prediction engines load the saved model
    and agree, and a model asking for more layers than the encoder has is refused."""
    import dataclasses

    import torch

    from factsift.model.bert import BertEncoder
    from factsift.model.network import LoRALinear

    torch.manual_seed(0)
    clf = SentenceClassifier.build(dataclasses.replace(tiny_config, lora_layers=1))
    wrapped = [n for n, m in clf.network.named_modules() if isinstance(m, LoRALinear)]
    assert len(wrapped) == 6 and all(".layer.1." in n for n in wrapped)
    trainable = [n for n, p in clf.network.named_parameters() if p.requires_grad]
    assert trainable and all(".layer.1." in n or n.startswith("head.") for n in trainable)
    with torch.no_grad():  # a non-zero adapter, so that loading it matters
        for n, p in clf.network.named_parameters():
            if n.endswith("lora_B"):
                p.normal_(0, 0.5)
    clf.save_pretrained(tmp_path / "m")
    own = SentenceClassifier.from_pretrained(tmp_path / "m", dtype="float32")
    hf = SentenceClassifier.from_pretrained(tmp_path / "m", dtype="float32", engine="transformers")
    assert isinstance(own.network.encoder, BertEncoder) and own.config.lora_layers == 1
    a, b = own.predict_article(seed_article["text"]), hf.predict_article(seed_article["text"])
    for x, y in zip(a.sentences, b.sentences):
        assert all(math.isclose(x.probabilities[k], y.probabilities[k], abs_tol=1e-5) for k in LABELS)
    with pytest.raises(ValueError, match="lora_layers is 3 but the base encoder has only 2 layers"):
        SentenceClassifier.build(dataclasses.replace(tiny_config, lora_layers=3))


def test_loading_for_prediction_does_not_import_transformers(tiny_clf, tmp_path):
    import subprocess
    import sys

    tiny_clf.save_pretrained(tmp_path / "m")
    code = ("import sys; from factsift import SentenceClassifier as S; "
            f"c = S.from_pretrained({str(tmp_path / 'm')!r}); c.predict_article('One. Two.'); "
            "print('transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_unknown_engine_is_refused(tiny_clf, tmp_path):
    tiny_clf.save_pretrained(tmp_path / "m")
    with pytest.raises(ValueError, match="engine must be"):
        SentenceClassifier.from_pretrained(tmp_path / "m", engine="onnx")


def test_packed_bf16_layers_match_plain_bf16_layers(tiny_clf, tmp_path, seed_article):
    """bf16 on a CPU with oneDNN runs packed weights with bias and GELU fused into the product
    (model/bert.py, _Layer.pack); it must give what the plain bf16 layers give."""
    import torch
    from factsift.model.bert import _can_pack

    if not _can_pack(torch.ones(1)):
        pytest.skip("this torch build has no oneDNN packed linear")
    tiny_clf.save_pretrained(tmp_path / "m")
    packed = SentenceClassifier.from_pretrained(tmp_path / "m", dtype="bfloat16")
    plain = SentenceClassifier.from_pretrained(tmp_path / "m", dtype="bfloat16")
    fp32 = SentenceClassifier.from_pretrained(tmp_path / "m", dtype="float32")
    a = packed.predict_article(seed_article["text"])
    assert all(layer.packed is not None for layer in packed.network.encoder.layers)
    plain.network.encoder.set_dtype(torch.bfloat16, pack=False)
    assert all(layer.packed is None for layer in plain.network.encoder.layers)
    b, c = plain.predict_article(seed_article["text"]), fp32.predict_article(seed_article["text"])
    assert all(layer.packed is None for layer in fp32.network.encoder.layers)
    for x, y, z in zip(a.sentences, b.sentences, c.sentences):
        assert all(math.isclose(x.probabilities[k], y.probabilities[k], abs_tol=0.02) for k in LABELS)
        assert all(math.isclose(x.probabilities[k], z.probabilities[k], abs_tol=0.02) for k in LABELS)


def test_mixed_dtype_keeps_a_float32_residual_stream(tiny_clf, tmp_path, seed_article):
    """bfloat16 carries the residual stream in bf16; "mixed" keeps it (and the
    LayerNorms) in float32 around bf16 products. Both stay close to fp32."""
    import torch

    tiny_clf.save_pretrained(tmp_path / "m")
    runs = {}
    for dtype in ("bfloat16", "mixed", "float32"):
        clf = SentenceClassifier.from_pretrained(tmp_path / "m", dtype=dtype)
        runs[dtype] = clf.predict_article(seed_article["text"]).sentences
        enc = clf.network.encoder
        want = torch.bfloat16 if dtype == "bfloat16" else torch.float32
        assert enc.residual_dtype == want and enc.layers[0].ln1.weight.dtype == want
        assert enc.layers[0].qkv.weight.dtype == (torch.float32 if dtype == "float32" else torch.bfloat16)
    for a, b, c in zip(runs["bfloat16"], runs["mixed"], runs["float32"]):
        assert all(math.isclose(a.probabilities[k], c.probabilities[k], abs_tol=0.02) for k in LABELS)
        assert all(math.isclose(b.probabilities[k], c.probabilities[k], abs_tol=0.02) for k in LABELS)
    with pytest.raises(ValueError, match="own BERT engine"):
        SentenceClassifier.from_pretrained(tmp_path / "m", dtype="mixed", engine="transformers").predict(["One."])


def test_without_packed_linear_bf16_runs_plain_layers(tiny_clf, tmp_path, seed_article, monkeypatch):
    import torch
    from factsift.model import bert

    tiny_clf.save_pretrained(tmp_path / "m")
    reference = SentenceClassifier.from_pretrained(tmp_path / "m", dtype="bfloat16")
    reference.network.encoder.set_dtype(torch.bfloat16, pack=False)
    monkeypatch.setattr(torch.backends.mkldnn, "is_available", lambda: False)
    clf = SentenceClassifier.from_pretrained(tmp_path / "m", dtype="bfloat16")
    got = clf.predict_article(seed_article["text"])
    assert all(layer.packed is None for layer in clf.network.encoder.layers)
    assert [s.probabilities for s in got.sentences] == \
        [s.probabilities for s in reference.predict_article(seed_article["text"]).sentences]
    assert not bert._can_pack(torch.ones(1))


def test_prepared_classifier_pickles_and_copies(tiny_clf, tmp_path, seed_article):
    """Packed bf16 weights are opaque oneDNN tensors; pickling (multiprocessing, Ray) and
    deepcopy must still work after a prediction has prepared the model."""
    import copy
    import pickle

    tiny_clf.save_pretrained(tmp_path / "m")
    clf = SentenceClassifier.from_pretrained(tmp_path / "m", dtype="bfloat16")
    before = [s.probabilities for s in clf.predict_article(seed_article["text"]).sentences]
    for other in (pickle.loads(pickle.dumps(clf)), copy.deepcopy(clf)):
        assert [s.probabilities for s in other.predict_article(seed_article["text"]).sentences] == before
        assert [layer.packed is None for layer in other.network.encoder.layers] == \
            [layer.packed is None for layer in clf.network.encoder.layers]


def test_batches_respect_window_and_token_limits():
    from factsift.model.encoding import plan_batches

    lengths = [200, 13, 250, 31, 64, 64, 190, 5, 600, 96]
    for batch_size, max_tokens, multiple in ((64, None, 32), (3, None, 1), (64, 512, 32), (2, 256, 8), (64, 1, 32)):
        batches = plan_batches(lengths, batch_size, max_tokens, multiple)
        assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
        flat = [lengths[i] for b in batches for i in b]
        assert flat == sorted(flat)  # length-sorted
        for b in batches:
            assert len(b) <= batch_size
            width = -(-max(lengths[i] for i in b) // multiple) * multiple
            assert max_tokens is None or len(b) == 1 or width * len(b) <= max_tokens
    assert plan_batches([], 8, 100) == []
    with pytest.raises(ValueError, match="batch_size"):
        plan_batches([3], 0)
    with pytest.raises(ValueError, match="max_batch_tokens"):
        plan_batches([3], 4, 0)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "mixed"])
def test_last_layer_on_kept_rows_matches_the_full_layer(tiny_clf, tmp_path, dtype):
    """With ``keep``, the encoder's last layer runs only the kept positions (the target
    sentences' tokens); their states must equal the full forward pass's."""
    import torch

    tiny_clf.save_pretrained(tmp_path / "m")
    clf = SentenceClassifier.from_pretrained(tmp_path / "m", dtype=dtype)
    clf._prepare()
    enc = clf.network.encoder
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 60, (4, 24), generator=g)
    attention = torch.ones(4, 24, dtype=torch.long)
    attention[1, 17:] = 0
    attention[3, 5:] = 0
    keep = (torch.rand(4, 24, generator=g) < 0.5) & attention.bool()
    keep[2] = False  # a window with nothing kept
    from factsift.model import bert

    rows_seen = []
    original = bert._Layer._linear

    def spy(self, name, h, gelu=False):
        if h.dim() == 2:
            rows_seen.append(h.shape[0])
        return original(self, name, h, gelu)

    with torch.inference_mode():
        full = enc(ids, attention).last_hidden_state
        bert._Layer._linear = spy
        try:
            part = enc(ids, attention, keep=keep).last_hidden_state
        finally:
            bert._Layer._linear = original
    assert torch.allclose(part[keep], full[keep], atol=1e-5 if dtype == "float32" else 2e-2)
    assert not part[~keep].any()
    # kept rows are padded to a fixed multiple: a long run meets few shapes (oneDNN caches a kernel per shape)
    assert rows_seen and all(n % bert.KEPT_ROWS_MULTIPLE == 0 for n in rows_seen)


def test_token_budget_does_not_change_predictions(tiny_clf, seed_article):
    sentences = [s["text"] for s in seed_article["sentences"]]
    tiny_clf.max_batch_tokens = None
    a = tiny_clf.predict_article(sentences=sentences, batch_size=64)
    tiny_clf.max_batch_tokens = 40  # one window per batch
    b = tiny_clf.predict_article(sentences=sentences, batch_size=64)
    tiny_clf.max_batch_tokens = 4096
    for x, y in zip(a.sentences, b.sentences):
        assert x.label == y.label
        assert all(math.isclose(x.probabilities[k], y.probabilities[k], abs_tol=1e-5) for k in LABELS)
