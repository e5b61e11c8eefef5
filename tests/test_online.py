"""The Redis online store: pre-computed results and embedding lookups, on a real
Redis-protocol server (valkey-server) started on 127.0.0.1.

Oracles: the native scikit-learn model for every number; local score_batch for which rows
are rejected; the bytes in Redis for the packing.
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import redis
from redis.crc import key_slot

import pmmlkit
from pmmlkit import online
from pmmlkit.cli import app
from pmmlkit.cli._common import run
from pmmlkit.datasets import FEATURES
from pmmlkit.server import ServerConfig
from pmmlkit.server.lookups import read_config
from tests.test_serve import free_port, serving


@pytest.fixture(scope="module")
def repo(tmp_path_factory, exported) -> Path:
    root = tmp_path_factory.mktemp("online") / "models"
    repository = pmmlkit.Repository(str(root))
    repository.publish(exported["logreg"].path.read_bytes(), {}, name="churn")
    repository.publish(exported["logreg"].path.read_bytes(), {}, name="churn2")
    return root


@pytest.fixture(scope="module")
def users(tmp_path_factory, holdout) -> tuple[Path, pd.DataFrame]:
    """A CSV of 200 users: an id, the features, one unreadable value and one row without id."""
    frame = holdout[FEATURES].iloc[:200].reset_index(drop=True).astype({"x0": object})
    frame.insert(0, "user_id", [f"u{i}" for i in range(len(frame))])
    frame.loc[5, "x0"] = "abc"
    frame.loc[9, "user_id"] = None
    path = tmp_path_factory.mktemp("users") / "users.csv"
    frame.to_csv(path, index=False)
    return path, frame


def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url)


def test_results_stored_by_key_equal_scikit_learn_and_flip_atomically(
        redis_url, repo, users, exported, tmp_path):
    path, frame = users
    summary = pmmlkit.score_file(f"{repo}/churn", str(path), redis_url, key="user_id",
                                 rejects=str(tmp_path / "rejects.csv"))
    assert summary.rows_read == 200 and summary.rows_rejected == 2
    assert summary.rows_written == summary.rows_scored == 198
    rejects = pd.read_csv(tmp_path / "rejects.csv")
    assert rejects["field"].tolist() == ["x0", "user_id"]
    assert "no value in the key column 'user_id'" in rejects["reason"].iloc[1]

    keys = ["u3", "u5", "nobody", "u0", "u199"]
    got = online.lookup(redis_url, "churn", keys)
    assert got["user_id"].tolist() == keys and got.attrs["version"] == "1"
    assert got["error"].tolist()[:3] == [None, "no result for key 'u5' in churn (run "
                                         f"{got.attrs['run']})", "no result for key 'nobody' "
                                         f"in churn (run {got.attrs['run']})"]
    ok = got["error"].isna().to_numpy()
    rows = frame.set_index("user_id").loc[got["user_id"][ok], FEATURES].astype({"x0": float})
    native = exported["logreg"].native(rows)
    for column in ("probability(0)", "probability(1)"):
        assert np.max(np.abs(got[column][ok].to_numpy() - native[column])) <= 1e-12
    assert got["churn"][ok].tolist() == native["churn"].tolist()
    assert got["probability(1)"].dtype == np.float64 and str(got["churn"].dtype) == "Int64"

    # every key of the run shares the model's hash tag: one slot on Redis Cluster
    client = _client(redis_url)
    run1 = got.attrs["run"]
    stored = list(client.scan_iter(match=f"pmmlkit:res:{{churn}}:{run1}:*"))
    assert len(stored) == 198 + 1  # the rows and the run's metadata
    assert {key_slot(k) for k in stored} == {key_slot(online.results_pointer("churn").encode())}
    assert client.hget(stored[0], "_model") in (b"churn", None)

    # a second run replaces the first in one step; the first expires after the grace period
    pmmlkit.score_file(f"{repo}/churn", str(path), redis_url, key="user_id")
    run2 = online.lookup(redis_url, "churn", ["u0"]).attrs["run"]
    assert run2 != run1
    assert 0 < client.ttl(stored[0]) <= online.DEFAULT_GRACE
    # a run that fails (too many rejects) leaves the live run untouched and no key behind
    with pytest.raises(pmmlkit.TooManyRejectsError):
        pmmlkit.score_file(f"{repo}/churn", str(path), redis_url, key="user_id", max_rejects=0,
                           chunk_size=50)
    assert online.lookup(redis_url, "churn", ["u0"]).attrs["run"] == run2
    runs = {k.split(b":")[3] for k in client.scan_iter(match="pmmlkit:res:{churn}:*")
            if not k.endswith(b":current")}
    assert runs == {run1.encode(), run2.encode()}  # (run1 until it expires)


def test_cli_score_to_redis_then_lookup(redis_url, repo, users, exported, capsys):
    path, frame = users
    code = run(app, ["score", f"{repo}/churn2", str(path), "--to", redis_url, "--key",
                     "user_id", "--keep", "x1", "--ttl", "3600"])
    out = capsys.readouterr()
    assert code == 10, out.err
    assert "(198 results stored)" in out.out
    code = run(app, ["lookup", redis_url, "churn2", "u1", "u2", "--json"])
    answer = json.loads(capsys.readouterr().out)
    assert code == 0
    assert [r["user_id"] for r in answer["results"]] == ["u1", "u2"]
    native = exported["logreg"].native(frame.iloc[1:3][FEATURES].astype({"x0": float}))
    assert [r["probability(1)"] for r in answer["results"]] == pytest.approx(
        native["probability(1)"].tolist(), abs=1e-12)
    assert [r["x1"] for r in answer["results"]] == [repr(v) for v in frame["x1"].iloc[1:3]]
    client = _client(redis_url)
    ttls = [client.ttl(k) for k in client.scan_iter(match="pmmlkit:res:{churn2}:*:k:*")]
    assert ttls and all(0 < t <= 3600 for t in ttls)
    assert run(app, ["lookup", redis_url, "churn2", "u1", "nobody"]) == 10
    capsys.readouterr()
    assert run(app, ["lookup", redis_url, "churn2", "nobody", "--json"]) == 10

    def strict(token: str) -> None:
        raise AssertionError(f"not JSON: {token}")

    missing = json.loads(capsys.readouterr().out, parse_constant=strict)["results"][0]
    assert missing["probability(1)"] is None and missing["error"].startswith("no result")


def test_console_command_scores_to_redis_without_pandas(redis_url, users, exported):
    """The real `pmmlkit score` process (which keeps pandas out) writes results to Redis."""
    path, frame = users
    proc = subprocess.run([sys.executable, "-m", "pmmlkit", "score",
                           str(exported["logreg"].path), str(path), "-o", redis_url, "--key",
                           "user_id", "--name", "console"], capture_output=True, text=True,
                          check=False, timeout=300)
    assert proc.returncode == 10, proc.stderr[-2000:]
    assert "(198 results stored)" in proc.stdout
    got = online.lookup(redis_url, "console", ["u0", "u5", "u7"])
    native = exported["logreg"].native(frame.iloc[[0, 7]][FEATURES].astype({"x0": float}))
    assert got["error"].isna().tolist() == [True, False, True]  # u5's x0 is unreadable
    assert got["probability(1)"].iloc[[0, 2]].tolist() == pytest.approx(
        native["probability(1)"].tolist(), abs=1e-12)


def test_a_bare_pmml_needs_a_name(redis_url, users, exported):
    path, _ = users
    with pytest.raises(pmmlkit.ConfigurationError, match="--name NAME"):
        pmmlkit.score_file(str(exported["logreg"].path), str(path), redis_url, key="user_id")
    with pytest.raises(pmmlkit.ConfigurationError, match="needs --key"):
        pmmlkit.score_file(str(exported["logreg"].path), str(path), redis_url)
    summary = pmmlkit.score_file(str(exported["logreg"].path), str(path), redis_url,
                                 key="user_id", name="bare")
    assert summary.rows_written == 198
    assert online.lookup(redis_url, "bare", ["u0"])["error"].isna().all()


def test_writer_packs_every_value_exactly_and_skips_missing_ones(redis_url):
    """The column-wise protocol writer against redis-py's own reading of what it stored."""
    import pyarrow as pa

    table = pa.table({"id": ["a", "é", "c"], "label": ["x", None, "z z"],
                      "p": [0.1, 1 / 3, 1e-300], "n": pa.array([1, 2, 3], pa.int64())})
    for ttl in (None, 60):
        writer = online.ResultWriter(redis_url, f"w{ttl}", key="id", version=4, sha256="s",
                                     columns=[("label", "string"), ("p", "double"),
                                              ("n", "integer")], ttl=ttl)
        writer.write(table.slice(0, 1))  # no missing value: the packed path
        writer.write(table.slice(1))  # a missing label: the row-by-row path
        writer.write(table.slice(0, 0))
        writer.commit()
        got = online.lookup(redis_url, f"w{ttl}", ["a", "é", "c"])
        assert got["label"].tolist() == ["x", None, "z z"]
        assert got["p"].tolist() == [0.1, 1 / 3, 1e-300]
        assert got["n"].tolist() == [1, 2, 3] and got["error"].isna().all()
        stored = _client(redis_url).hgetall(
            f"{online.results_namespace(f'w{ttl}', got.attrs['run'])}:k:a")
        assert stored == {b"label": b"x", b"p": b"0.1", b"n": b"1", b"_model": f"w{ttl}".encode(),
                          b"_version": b"4"}
        ttls = [_client(redis_url).ttl(f"{online.results_namespace(f'w{ttl}', got.attrs['run'])}"
                                       f":k:{k}") for k in ("a", "é")]
        assert ttls == [-1, -1] if ttl is None else all(0 < t <= 60 for t in ttls)


def test_redis_failures_are_clear(start_redis, redis_url, repo, users):
    path, _ = users
    dead = f"redis://127.0.0.1:{free_port()}/0"
    with pytest.raises(pmmlkit.StorageError, match=r"127\.0\.0\.1:\d+/0: cannot connect: "
                                                   r"Redis is unreachable"):
        pmmlkit.score_file(f"{repo}/churn", str(path), dead, key="user_id")
    locked = start_redis("--requirepass", "s3cret")
    wrong = locked.replace(":s3cret@", ":Wr0ngPw@")
    with pytest.raises(pmmlkit.StorageError, match=r"refused the credentials") as info:
        online.lookup(wrong, "churn", ["u1"])
    assert "Wr0ngPw" not in str(info.value) and "redis://***@127.0.0.1" in str(info.value)
    with pytest.raises(pmmlkit.StorageError, match="credentials"):
        online.lookup(locked.replace(":s3cret@", ""), "churn", ["u1"])
    with pytest.raises(pmmlkit.ModelNotFoundError, match="no results for model 'churn'"):
        online.lookup(locked, "churn", ["u1"])
    # a foreign value where pmmlkit keeps its pointer
    _client(locked).hset(online.results_pointer("churn"), "a", "b")
    with pytest.raises(pmmlkit.InvalidInputError, match="WRONGTYPE"):
        online.lookup(locked, "churn", ["u1"])


# -- embeddings ------------------------------------------------------------------------------
DIM = 4


@pytest.fixture(scope="module")
def recommender(tmp_path_factory) -> dict[str, Any]:
    """User and item vectors (a factorisation of an interaction matrix), and a logistic
    regression over [user vector, item vector, hour], exported to a repository."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.linear_model import LogisticRegression
    from sklearn2pmml.pipeline import PMMLPipeline

    rng = np.random.default_rng(0)
    interactions = (rng.random((60, 40)) < 0.2).astype(float)
    svd = TruncatedSVD(n_components=DIM, random_state=0).fit(interactions)
    users = svd.transform(interactions).astype(np.float32)
    items = svd.components_.T.astype(np.float32)
    pairs = pd.DataFrame({"u": rng.integers(0, 60, 3000), "i": rng.integers(0, 40, 3000),
                          "hour": rng.integers(0, 24, 3000).astype(float)})
    X = pd.DataFrame(np.hstack([users[pairs["u"]], items[pairs["i"]]]).astype(np.float64),
                     columns=[*(f"u_{k}" for k in range(DIM)), *(f"i_{k}" for k in range(DIM))])
    X["hour"] = pairs["hour"]
    y = interactions[pairs["u"], pairs["i"]].astype(int)
    model = PMMLPipeline([("model", LogisticRegression(max_iter=500))])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y)
    folder = tmp_path_factory.mktemp("recommender")
    pmmlkit.export_sklearn(model, X.iloc[:200], y[:200], repo=str(folder / "models"), name="rec")
    user_file = folder / "users.parquet"
    pd.DataFrame({"id": [f"user{k}" for k in range(60)], "vector": list(users)}).to_parquet(
        user_file)
    item_file = folder / "items.npz"
    np.savez(item_file, item=np.arange(40), vectors=items)
    lookups = folder / "lookups.toml"
    lookups.write_text('[[rec]]\nkey = "user_id"\nembeddings = "users"\nprefix = "u_"\n\n'
                       '[[rec]]\nkey = "item_id"\nembeddings = "items"\nprefix = "i_"\n'
                       'default = "zeros"\n')
    return {"model": model, "users": users, "items": items, "repo": folder / "models",
            "user_file": user_file, "item_file": item_file, "lookups": lookups}


def test_embeddings_put_packs_float32_and_switches_atomically(redis_url, recommender):
    first = online.put_embeddings(redis_url, "users", str(recommender["user_file"]))
    assert (first.count, first.dim, first.previous) == (60, DIM, None)
    vectors, missing = online.EmbeddingSet(redis_url, "users").get(["user7", "ghost", "user0"])
    assert missing == [1]
    assert np.array_equal(vectors[[0, 2]], recommender["users"][[7, 0]].astype(np.float64))
    raw = _client(redis_url).get(f"{online.embeddings_namespace('users', first.run)}:k:user7")
    assert raw == recommender["users"][7].astype("<f4").tobytes() and len(raw) == DIM * 4
    code = run(app, ["embeddings", "put", redis_url, "items", str(recommender["item_file"]),
                     "--key", "item"])
    assert code == 0
    again = online.put_embeddings(redis_url, "users", str(recommender["user_file"]), grace=60)
    assert again.previous == first.run
    assert 0 < _client(redis_url).ttl(
        f"{online.embeddings_namespace('users', first.run)}:k:user7") <= 60


def test_bad_vectors_are_refused_naming_the_entity(redis_url, tmp_path):
    ragged = tmp_path / "ragged.parquet"
    pd.DataFrame({"id": ["a", "b"], "v": [[1.0, 2.0], [1.0]]}).to_parquet(ragged)
    with pytest.raises(pmmlkit.InvalidInputError, match=r"the vector of id 'b' \(row 1\) has 1 "
                                                        r"entries; the others have 2"):
        online.put_embeddings(redis_url, "ragged", str(ragged))
    nan = tmp_path / "nan.parquet"
    pd.DataFrame({"id": ["a", "b"], "v0": [1.0, np.nan]}).to_parquet(nan)
    with pytest.raises(pmmlkit.InvalidInputError, match=r"the vector of 'b' holds NaN"):
        online.put_embeddings(redis_url, "nan", str(nan))
    dup = tmp_path / "dup.parquet"
    pd.DataFrame({"id": ["a", "a"], "v0": [1.0, 2.0]}).to_parquet(dup)
    with pytest.raises(pmmlkit.InvalidInputError, match="'a' appears more than once"):
        online.put_embeddings(redis_url, "dup", str(dup))
    assert not list(_client(redis_url).scan_iter(match="pmmlkit:emb:{ragged}*"))
    # a value of the wrong size under a vector's key: named, with what to do
    with pytest.raises(pmmlkit.InvalidInputError, match=r"the value of 'x' has 3 bytes, not 16 "
                                                        r"\(4 float32\).*put the set again"):
        online.decode_vectors("users", "r1", 4, ["x"], [b"abc"])


def test_served_model_looks_up_vectors_and_equals_direct_and_native(
        redis_url, recommender):
    online.put_embeddings(redis_url, "users", str(recommender["user_file"]))
    online.put_embeddings(redis_url, "items", str(recommender["item_file"]), key="item")
    config = ServerConfig(repo=str(recommender["repo"]), redis=redis_url,
                          lookups=read_config(str(recommender["lookups"])))
    rng = np.random.default_rng(1)
    u, i = rng.integers(0, 60, 25), rng.integers(0, 40, 25)
    hours = rng.integers(0, 24, 25).astype(float)
    direct_rows = pd.DataFrame(np.hstack([recommender["users"][u], recommender["items"][i]])
                               .astype(np.float64),
                               columns=[*(f"u_{k}" for k in range(DIM)),
                                        *(f"i_{k}" for k in range(DIM))]).assign(hour=hours)
    native = recommender["model"].predict_proba(direct_rows)[:, 1]
    by_id = [{"user_id": f"user{a}", "item_id": int(b), "hour": h}
             for a, b, h in zip(u, i, hours, strict=True)]
    with serving(config) as base:
        answer = httpx.post(f"{base}/v1/models/rec:predict", json={"instances": by_id}).json()
        looked_up = np.array([p["probability(1)"] for p in answer["predictions"]])
        v2 = httpx.post(f"{base}/v2/models/rec/infer", json={"inputs": [
            {"name": "user_id", "shape": [2], "datatype": "BYTES", "data": ["user1", "user2"]},
            {"name": "item_id", "shape": [2], "datatype": "INT64", "data": [3, 4]},
            {"name": "hour", "shape": [2], "datatype": "FP64", "data": [1.0, 2.0]}]})
        missing_user = httpx.post(f"{base}/v1/models/rec:predict", json={"instances": [
            by_id[0], {**by_id[1], "user_id": "ghost"}]})
        cold_item = httpx.post(f"{base}/v1/models/rec:predict", json={"instances": [
            {**by_id[0], "item_id": 999}]}).json()
        # a new version of the user vectors: served within the pointer's 1 s, never mixed
        # with the cached vectors of the old run
        users_v2 = recommender["user_file"].with_name("users-v2.parquet")
        pd.DataFrame({"id": [f"user{k}" for k in range(60)],
                      "vector": list(recommender["users"] * 2)}).to_parquet(users_v2)
        online.put_embeddings(redis_url, "users", str(users_v2))
        import time

        time.sleep(1.2)
        after = httpx.post(f"{base}/v1/models/rec:predict", json={"instances": by_id[:3]}).json()
    doubled = direct_rows.iloc[:3].copy()
    for k in range(DIM):
        doubled[f"u_{k}"] = (recommender["users"][u[:3], k] * 2).astype(np.float64)
    assert [p["probability(1)"] for p in after["predictions"]] == pytest.approx(
        recommender["model"].predict_proba(doubled)[:, 1].tolist(), abs=1e-9)
    direct = pmmlkit.load(f"{recommender['repo']}/rec").score_batch(direct_rows)
    assert np.max(np.abs(looked_up - direct["probability(1)"].to_numpy())) == 0.0
    assert np.max(np.abs(looked_up - native)) <= 1e-9
    assert v2.status_code == 200, v2.text
    assert missing_user.status_code == 400
    assert "instance 1: field 'user_id' value 'ghost': no vector for user_id 'ghost' in " \
           "embeddings 'users'" in missing_user.json()["error"]
    zeros = direct_rows.iloc[:1].assign(**{f"i_{k}": 0.0 for k in range(DIM)})
    assert cold_item["predictions"][0]["probability(1)"] == pytest.approx(
        recommender["model"].predict_proba(zeros)[0, 1], abs=1e-9)


def test_results_endpoint(redis_url, repo, users, exported):
    path, frame = users
    pmmlkit.score_file(f"{repo}/churn", str(path), redis_url, key="user_id")
    with serving(ServerConfig(repo=str(repo), redis=redis_url)) as base:
        answer = httpx.post(f"{base}/v1/results/churn:lookup",
                            json={"keys": ["u1", "ghost", "u2"]}).json()
        bad = httpx.post(f"{base}/v1/results/churn:lookup", json={"keys": "u1"})
        none = httpx.post(f"{base}/v1/results/nothing:lookup", json={"keys": ["u1"]})
    assert [r.get("user_id") for r in answer["results"]] == ["u1", "ghost", "u2"]
    assert answer["results"][1]["error"].startswith("no result for key 'ghost'")
    native = exported["logreg"].native(frame.iloc[[1, 2]][FEATURES].astype({"x0": float}))
    assert [answer["results"][k]["probability(1)"] for k in (0, 2)] == pytest.approx(
        native["probability(1)"].tolist(), abs=1e-12)
    assert bad.status_code == 400 and none.status_code == 404


def test_lookups_file_errors_are_named(tmp_path):
    bad = tmp_path / "l.toml"
    bad.write_text('[[rec]]\nkey = "user_id"\nembeddings = "users"\n')
    with pytest.raises(pmmlkit.ConfigurationError, match=r"rec lookup 1: missing \['prefix'\]"):
        read_config(str(bad))
    bad.write_text('[rec]\nkey = "x"\n')
    with pytest.raises(pmmlkit.ConfigurationError, match=r"write \[\[rec\]\]"):
        read_config(str(bad))


def test_cli_serve_with_redis_and_lookups(redis_url, recommender):
    online.put_embeddings(redis_url, "users", str(recommender["user_file"]))
    online.put_embeddings(redis_url, "items", str(recommender["item_file"]), key="item")
    port, grpc_port = free_port(), free_port()
    proc = subprocess.Popen([sys.executable, "-m", "pmmlkit", "serve", str(recommender["repo"]),
                             "--port", str(port), "--redis", redis_url, "--lookups",
                             str(recommender["lookups"]), "--lookup-cache", "0",
                             "--log-level", "warning", "--grpc-port", str(grpc_port),
                             "--v2-grpc-port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        from tests.test_serve import wait_ready

        wait_ready(f"http://127.0.0.1:{port}")
        answer = httpx.post(f"http://127.0.0.1:{port}/v1/models/rec:predict", json={
            "instances": [{"user_id": "user3", "item_id": 5, "hour": 7.0}]}).json()
        over_grpc = _grpc_predict(f"127.0.0.1:{grpc_port}", "rec",
                                  {"user_id": b"user3", "item_id": 5, "hour": 7.0})
        as_csv = httpx.post(f"http://127.0.0.1:{port}/v1/models/rec:score",
                            content=b"user_id,item_id,hour\nuser3,5,7.0\n").text
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    row = np.hstack([recommender["users"][3], recommender["items"][5]]).astype(np.float64)
    frame = pd.DataFrame([row], columns=[*(f"u_{k}" for k in range(DIM)),
                                         *(f"i_{k}" for k in range(DIM))]).assign(hour=7.0)
    assert answer["predictions"][0]["probability(1)"] == pytest.approx(
        recommender["model"].predict_proba(frame)[0, 1], abs=1e-9)
    # the gRPC API and the CSV endpoint look the vectors up the same way (one core)
    import io

    assert pd.read_csv(io.StringIO(as_csv))["probability(1)"].tolist() == pytest.approx(
        [recommender["model"].predict_proba(frame)[0, 1]], abs=1e-9)
    assert list(over_grpc.outputs["probability(1)"].double_val) == pytest.approx(
        [recommender["model"].predict_proba(frame)[0, 1]], abs=1e-9)


def _grpc_predict(address: str, model: str, record: dict) -> Any:
    """TF Serving's Predict with one instance, through pmmlkit's vendored messages."""
    import grpc

    from pmmlkit.server.rpc.messages import serving

    request = serving.PredictRequest(model_spec=serving.ModelSpec(name=model))
    for key, value in record.items():
        tensor = request.inputs[key]
        tensor.tensor_shape.dim.add(size=1)
        if isinstance(value, bytes):
            tensor.dtype, tensor.string_val[:] = 7, [value]  # DT_STRING
        elif isinstance(value, int):
            tensor.dtype, tensor.int64_val[:] = 9, [value]  # DT_INT64
        else:
            tensor.dtype, tensor.double_val[:] = 2, [value]  # DT_DOUBLE
    with grpc.insecure_channel(address) as channel:
        return channel.unary_unary("/tensorflow.serving.PredictionService/Predict",
                                   request_serializer=serving.PredictRequest.SerializeToString,
                                   response_deserializer=serving.PredictResponse.FromString)(
            request, timeout=60)


def _metric(text: str, name: str) -> float:
    return next(float(line.split()[-1]) for line in text.splitlines()
                if line.startswith(name + " ") or line.startswith(name + "{"))


def test_a_hung_redis_holds_no_model_and_opens_the_breaker(start_redis, repo, users):
    """Redis stopped (SIGSTOP) while results lookups are in flight: a model that never touches
    Redis answers while they wait; the lookups fail after the configured timeout; then the
    circuit breaker fails them at once, says so, shows it in the metrics, and closes once
    Redis answers again."""
    import signal
    import threading

    path, frame = users
    url = start_redis()
    pmmlkit.score_file(f"{repo}/churn", str(path), url, key="user_id")
    config = ServerConfig(repo=str(repo), redis=url, redis_timeout=3.0,
                          redis_breaker_failures=2, redis_breaker_reset=1.0)
    instances = {"instances": [{c: (v.item() if hasattr(v, "item") else v)
                                for c, v in row.items()}
                               for row in frame[FEATURES].iloc[:3].to_dict("records")]}
    with serving(config) as base:
        def lookup() -> httpx.Response:
            return httpx.post(f"{base}/v1/results/churn:lookup", json={"keys": ["u1"]},
                              timeout=30)

        assert lookup().status_code == 200
        url.process.send_signal(signal.SIGSTOP)
        try:
            answers: list[httpx.Response] = []
            hung = [threading.Thread(target=lambda: answers.append(lookup())) for _ in range(6)]
            for t in hung:
                t.start()
            predict = httpx.post(f"{base}/v1/models/churn:predict", json=instances, timeout=30)
            still_waiting = sum(t.is_alive() for t in hung)
            for t in hung:
                t.join()
            assert predict.status_code == 200, predict.text
            assert still_waiting == 6  # answered while every lookup still waited on Redis
            assert [a.status_code for a in answers] == [503] * 6
            assert all("did not answer in time" in a.json()["error"] or "circuit breaker open" in
                       a.json()["error"] for a in answers), [a.text for a in answers]
            refused = lookup()
            assert refused.status_code == 503
            assert "circuit breaker open" in refused.json()["error"]
            metrics = httpx.get(f"{base}/monitoring/prometheus/metrics").text
            assert _metric(metrics, "pmmlkit_redis_circuit_open") == 1.0
        finally:
            url.process.send_signal(signal.SIGCONT)
        import time

        time.sleep(1.1)  # the breaker lets one call through after redis_breaker_reset
        back = lookup()
        assert back.status_code == 200, back.text
        assert back.json()["results"][0]["user_id"] == "u1"
        metrics = httpx.get(f"{base}/monitoring/prometheus/metrics").text
        assert _metric(metrics, "pmmlkit_redis_circuit_open") == 0.0


def test_a_missing_embedding_set_is_not_found_everywhere(redis_url, recommender, tmp_path):
    """One classification: DataNotFoundError (404, exit 5) from the library and the server."""
    with pytest.raises(pmmlkit.DataNotFoundError, match="no embedding set 'nobody'"):
        online.EmbeddingSet(redis_url, "nobody").get(["user1"])
    with pytest.raises(pmmlkit.DataNotFoundError, match="no results for model 'nothing'"):
        online.lookup(redis_url, "nothing", ["u1"])
    lookups = tmp_path / "lookups.toml"
    lookups.write_text('[[rec]]\nkey = "user_id"\nembeddings = "nobody"\nprefix = "u_"\n\n'
                       '[[rec]]\nkey = "item_id"\nembeddings = "nobody_items"\nprefix = "i_"\n')
    config = ServerConfig(repo=str(recommender["repo"]), redis=redis_url,
                          lookups=read_config(str(lookups)))
    with serving(config) as base:
        r = httpx.post(f"{base}/v1/models/rec:predict", json={"instances": [
            {"user_id": "user1", "item_id": 3, "hour": 1.0}]})
    assert r.status_code == 404, r.text
    assert "no embedding set 'nobody'" in r.json()["error"]
    assert pmmlkit.DataNotFoundError.exit_code == 5 and pmmlkit.DataNotFoundError.http_status == 404


def test_a_stopped_redis_job_leaves_no_keys_and_gc_removes_a_killed_ones(start_redis, repo,
                                                                         tmp_path):
    """SIGTERM: the job deletes its run (exit 143). SIGKILL: the run stays, unpublished and
    never read, until `pmmlkit gc` removes it; the live run is never touched."""
    import signal
    import time

    from pmmlkit.datasets import make_churn

    url = start_redis()
    client = _client(url)
    small = tmp_path / "small.csv"
    frame = make_churn(50, seed=4)[FEATURES]
    frame.insert(0, "user_id", [f"u{i}" for i in range(50)])
    frame.to_csv(small, index=False)
    pmmlkit.score_file(f"{repo}/churn", str(small), url, key="user_id")
    live = set(client.scan_iter(match="pmmlkit:*"))
    big = tmp_path / "big.csv"
    frame = make_churn(300_000, seed=3)[FEATURES]
    frame.insert(0, "user_id", [f"b{i}" for i in range(len(frame))])
    frame.to_csv(big, index=False)

    def start() -> subprocess.Popen[str]:
        proc = subprocess.Popen([sys.executable, "-m", "pmmlkit", "score", f"{repo}/churn",
                                 str(big), "--to", url, "--key", "user_id", "--chunk-size",
                                 "2000"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True)
        deadline = time.monotonic() + 120
        while client.dbsize() <= len(live) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert client.dbsize() > len(live), "the job never wrote"
        return proc

    proc = start()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143 and "terminated (SIGTERM)" in err, err
    assert set(client.scan_iter(match="pmmlkit:*")) == live
    proc = start()
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=120)
    orphans = set(client.scan_iter(match="pmmlkit:*")) - live
    assert orphans
    from typer.testing import CliRunner

    young = CliRunner().invoke(app, ["gc", url, "--json"])
    assert json.loads(young.stdout)["runs"] == []  # younger than an hour: maybe running
    done = CliRunner().invoke(app, ["gc", url, "--older-than", "0", "--json"])
    assert done.exit_code == 0, done.stdout
    runs = json.loads(done.stdout)["runs"]
    assert [(r["kind"], r["name"], r["keys"]) for r in runs] == [
        ("results", "churn", len(orphans))]
    assert set(client.scan_iter(match="pmmlkit:*")) == live
    assert online.lookup(url, "churn", ["u1"])["error"].isna().all()  # the live run serves


def test_a_redis_cluster_node_is_refused_saying_so(start_redis, repo, users, tmp_path):
    """Redis Cluster is not supported (docs/online.md): a cluster node is refused at the
    first command with a configuration error, and nothing is published."""
    path, _ = users
    node = start_redis("--cluster-enabled", "yes", "--cluster-config-file",
                       str(tmp_path / "nodes.conf"), "--cluster-port", str(free_port()))
    with pytest.raises(pmmlkit.ConfigurationError, match=r"Redis Cluster node .*Redis Cluster "
                                                         r"is not supported"):
        pmmlkit.score_file(f"{repo}/churn", str(path), node, key="user_id")
    with pytest.raises(pmmlkit.ConfigurationError, match="Redis Cluster is not supported"):
        online.lookup(node, "churn", ["u1"])
