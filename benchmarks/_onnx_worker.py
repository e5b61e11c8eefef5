"""onnxruntime on the native benchmark's models, run inside the benchmark-only environment.

    benchmarks/.cache/onnx-venv/bin/python benchmarks/_onnx_worker.py MODELS ROWS

Called by ``bench_native.py --onnx`` (which creates that environment): MODELS is a
comma-separated list of the pickled pipelines under benchmarks/.cache/native, ROWS the row
counts. Each PMMLPipeline's steps become a plain scikit-learn Pipeline converted with
skl2onnx (XGBoost and LightGBM through onnxmltools' converters), inputs typed as
onnxruntime takes them (float32 numbers, strings). For each row count, on the same rows
``bench_native`` generates: scikit-learn's ``predict_proba`` and onnxruntime's run, best of
3 each, and the largest |difference| of onnxruntime's probability from scikit-learn's.
Prints one JSON object.
"""

from __future__ import annotations

import json
import pickle
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).parent
sys.path[:0] = [str(HERE), str(HERE.parent)]
from _models import best_of  # noqa: E402

from pmmlkit.datasets import CATEGORICAL, FEATURES, NUMERIC, make_churn  # noqa: E402

FOLDER = HERE / ".cache" / "native"


def _register_boosters() -> None:
    import lightgbm
    import xgboost
    from onnxmltools.convert.lightgbm.operator_converters.LightGbm import convert_lightgbm
    from onnxmltools.convert.xgboost.operator_converters.XGBoost import convert_xgboost
    from skl2onnx import update_registered_converter
    from skl2onnx.common.shape_calculator import calculate_linear_classifier_output_shapes

    options = {"nocl": [True, False], "zipmap": [True, False, "columns"]}
    update_registered_converter(xgboost.XGBClassifier, "XGBoostXGBClassifier",
                                calculate_linear_classifier_output_shapes, convert_xgboost,
                                options=options)
    update_registered_converter(lightgbm.LGBMClassifier, "LightGbmLGBMClassifier",
                                calculate_linear_classifier_output_shapes, convert_lightgbm,
                                options=options)


def _session(pipeline: Any) -> Any:
    import onnxruntime
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType
    from sklearn.pipeline import Pipeline

    plain = Pipeline(list(pipeline.steps))
    types = [(c, FloatTensorType([None, 1])) for c in NUMERIC]
    types += [(c, StringTensorType([None, 1])) for c in CATEGORICAL]
    model = convert_sklearn(plain, initial_types=types, target_opset={"": 18, "ai.onnx.ml": 3},
                            options={id(plain.steps[-1][1]): {"zipmap": False}})
    return onnxruntime.InferenceSession(model.SerializeToString(),
                                        providers=["CPUExecutionProvider"])


def _feeds(frame: Any) -> dict[str, np.ndarray]:
    feeds = {c: frame[c].to_numpy(np.float32).reshape(-1, 1) for c in NUMERIC}
    feeds.update({c: frame[c].astype(str).to_numpy(object).reshape(-1, 1)
                  for c in CATEGORICAL})
    return feeds


def main() -> None:
    names, sizes = sys.argv[1].split(","), [int(n) for n in sys.argv[2].split(",")]
    _register_boosters()
    out: dict[str, Any] = {}
    for name in names:
        pipeline = pickle.loads((FOLDER / f"{name}.pkl").read_bytes())
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                session = _session(pipeline)
        except Exception as exc:  # reported as the contender's failure
            out[name] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
            continue
        probability = session.get_outputs()[1].name
        entry: dict[str, Any] = {}
        for n in sizes:
            X = make_churn(n, seed=11)[FEATURES]
            feeds = _feeds(X)
            session.run([probability], feeds)  # warm
            native = pipeline.predict_proba(X)[:, 1]
            got = session.run([probability], feeds)[0][:, 1]
            seconds = {"sklearn": best_of(lambda X=X, p=pipeline: p.predict_proba(X), 3),
                       "onnxruntime": best_of(lambda f=feeds, s=session, o=probability:
                                              s.run([o], f), 3)}
            entry[str(n)] = {"rows_per_s": {k: n / v for k, v in seconds.items()},
                             "max_abs_diff": float(np.max(np.abs(got - native)))}
        out[name] = entry
        print(json.dumps({name: entry}), file=sys.stderr, flush=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
