"""The OIP tensor codec: datatypes, JSON and binary data, and the errors a request can earn."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pytest
import tritonclient.http as triton

from mlkube.serving import protocol
from mlkube.serving.models import TensorSpec, conform
from mlkube.serving.protocol import (
    DATATYPES,
    BinaryOutput,
    InputTensor,
    ProtocolError,
    datatype_of,
    encode_infer_response,
    parse_infer_request,
    tensor_to_binary,
)

NUMERIC = [d for d in DATATYPES if d != "BYTES"]


def sample(datatype: str) -> np.ndarray[Any, Any]:
    """A 2x3 array of `datatype` with values that exercise the type's range."""
    if datatype == "BOOL":
        return np.array([[True, False, True], [False, False, True]])
    if datatype == "BYTES":
        return np.array([[b"a", b"", b"\xc3\xa9t\xc3\xa9"], [b"x" * 300, b"0", b"z"]], dtype=object)
    dtype = DATATYPES[datatype]
    if dtype.kind == "f":
        return np.array([[0.5, -1.25, 3.0], [1e3, 0.0, -2.5]], dtype=dtype)
    info = np.iinfo(dtype)
    return np.array([[info.min, 0, 1], [info.max, 2, 7]], dtype=dtype)


def json_request(*inputs: dict[str, Any], **extra: Any) -> bytes:
    return orjson.dumps({"inputs": list(inputs), **extra})


def tensor(name: str = "x", datatype: str = "FP64", shape: Any = (1, 2), data: Any = None) -> Any:
    return {"name": name, "datatype": datatype, "shape": list(shape), "data": data or [1.0, 2.0]}


def error_of(body: bytes, header_length: int | None = None) -> str:
    with pytest.raises(ProtocolError) as info:
        parse_infer_request(body, header_length)
    assert info.value.status == 400
    return info.value.message


@pytest.mark.parametrize("datatype", list(DATATYPES))
def test_every_datatype_round_trips_through_json(datatype: str) -> None:
    array = sample(datatype)
    data = [x.decode() for x in array.ravel()] if datatype == "BYTES" else array.ravel().tolist()
    req = parse_infer_request(json_request(tensor("x", datatype, array.shape, data)))
    got = req.inputs[0]
    assert (got.name, got.datatype, got.shape) == ("x", datatype, (2, 3))
    assert got.data.dtype == DATATYPES[datatype]
    np.testing.assert_array_equal(got.data, array)


@pytest.mark.parametrize("datatype", list(DATATYPES))
@pytest.mark.parametrize("binary", [True, False])
def test_every_datatype_parses_from_the_triton_client(datatype: str, binary: bool) -> None:
    array = sample(datatype)
    if datatype == "BYTES" and not binary:
        array = np.array([[x.decode() for x in row] for row in array], dtype=object)
    infer_input = triton.InferInput("x", list(array.shape), datatype)
    infer_input.set_data_from_numpy(array, binary_data=binary)
    body, json_size = triton.InferenceServerClient.generate_request_body([infer_input])
    got = parse_infer_request(body, json_size).inputs[0]
    expected = sample(datatype)
    np.testing.assert_array_equal(got.data, expected)
    assert got.data.shape == (2, 3)


@pytest.mark.parametrize("datatype", list(DATATYPES))
@pytest.mark.parametrize("binary", [True, False])
def test_every_datatype_encodes_for_the_triton_client(datatype: str, binary: bool) -> None:
    array = sample(datatype)
    body, header_length = encode_infer_response(
        "m", "1", "id-1", [BinaryOutput("y", array, binary)]
    )
    assert (header_length is not None) == binary
    result = triton.InferResult.from_response_body(body, header_length=header_length)
    got = result.as_numpy("y")
    if datatype == "BYTES" and not binary:
        expected = np.array([[x.decode() for x in row] for row in array], dtype=object)
        np.testing.assert_array_equal(got.reshape(2, 3), expected)
    else:
        np.testing.assert_array_equal(got.reshape(2, 3), array)
    meta = result.get_response()
    assert meta["outputs"][0]["datatype"] == datatype
    assert meta["outputs"][0]["shape"] == [2, 3]
    assert (meta["model_name"], meta["model_version"], meta["id"]) == ("m", "1", "id-1")


def test_nested_and_flat_data_decode_the_same() -> None:
    flat = parse_infer_request(json_request(tensor(shape=(2, 2), data=[1, 2, 3, 4])))
    nested = parse_infer_request(json_request(tensor(shape=(2, 2), data=[[1, 2], [3, 4]])))
    np.testing.assert_array_equal(flat.inputs[0].data, nested.inputs[0].data)
    assert nested.inputs[0].data.shape == (2, 2)


def test_binary_inputs_follow_the_json_in_input_order() -> None:
    a = np.arange(4, dtype=np.uint32).reshape(2, 2)
    b = np.array([True, False, True])
    header = orjson.dumps(
        {
            "inputs": [
                {
                    "name": "a",
                    "shape": [2, 2],
                    "datatype": "UINT32",
                    "parameters": {"binary_data_size": 16},
                },
                {
                    "name": "b",
                    "shape": [3],
                    "datatype": "BOOL",
                    "parameters": {"binary_data_size": 3},
                },
            ],
            "outputs": [{"name": "o", "parameters": {"binary_data": True}}, {"name": "p"}],
        }
    )
    req = parse_infer_request(header + a.tobytes() + b.astype(np.uint8).tobytes(), len(header))
    np.testing.assert_array_equal(req.inputs[0].data, a)
    np.testing.assert_array_equal(req.inputs[1].data, b)
    assert [(o.name, o.binary) for o in req.outputs or []] == [("o", True), ("p", False)]


def test_request_level_binary_output_is_the_default_an_output_may_override() -> None:
    body = json_request(
        tensor(),
        parameters={"binary_data_output": True},
        outputs=[{"name": "a"}, {"name": "b", "parameters": {"binary_data": False}}],
    )
    req = parse_infer_request(body)
    assert req.binary_output
    assert [(o.name, o.binary) for o in req.outputs or []] == [("a", True), ("b", False)]
    assert parse_infer_request(json_request(tensor())).outputs is None


def test_a_response_with_any_binary_output_carries_the_json_length() -> None:
    outputs = [
        BinaryOutput("a", np.array([1.5, 2.5], dtype=np.float32), True),
        BinaryOutput("b", np.array([1, 2]), False),
    ]
    body, header_length = encode_infer_response("m", "2", "r", outputs)
    assert header_length is not None
    doc = orjson.loads(body[:header_length])
    assert doc["outputs"][0]["parameters"] == {"binary_data_size": 8}
    assert doc["outputs"][1]["data"] == [1, 2]
    assert body[header_length:] == np.array([1.5, 2.5], dtype="<f4").tobytes()


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (tensor(shape=(1, 3)), "input 'x' has shape [1, 3] (3 elements) but 'data' holds 2"),
        (
            tensor(datatype="FP32", data=["a", "b"]),
            "input 'x' has datatype FP32 but 'data' holds strings",
        ),
        (
            tensor(datatype="INT32", data=[1.5, 2]),
            "input 'x' has datatype INT32 but 'data' holds floats",
        ),
        (
            tensor(datatype="BOOL", data=[1, 0]),
            "input 'x' has datatype BOOL but 'data' holds integers",
        ),
        (tensor(datatype="FP64", data=[1, None]), "'data' holds mixed or non-numeric values"),
        (
            tensor(datatype="UINT8", data=[1, 300]),
            "input 'x' holds values outside the range of UINT8",
        ),
        (tensor(datatype="INT8", data=[-129, 0]), "outside the range of INT8 [-128, 127]"),
        (tensor(datatype="BYTES", data=[1, 2]), "datatype BYTES but 'data' is not all strings"),
        (tensor(datatype="FP99"), "input 'x' has unknown datatype 'FP99'; known: BOOL, UINT8"),
        (
            tensor(shape=(1, 2), data=[[1.0], [2.0, 3.0]]),
            "input 'x' 'data' is a ragged nested array",
        ),
        (tensor(shape=(-1, 2)), "input 'x' needs 'shape', a list of non-negative integers"),
        ({"name": "x", "datatype": "FP64", "shape": [1]}, "neither 'data' nor binary_data_size"),
        ({"datatype": "FP64"}, "inputs[0] must be an object with a string 'name'"),
        ({**tensor(), "data": 3.0}, "input 'x' 'data' must be a (flat or nested) JSON array"),
        (
            {**tensor(), "parameters": {"shared_memory_region": "r"}},
            "input 'x' parameter 'shared_memory_region' is not supported",
        ),
    ],
)
def test_a_bad_input_is_refused_with_a_message_naming_it(
    item: dict[str, Any], message: str
) -> None:
    assert message in error_of(json_request(item))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "malformed JSON in inference request"),
        (b"[1, 2]", "inference request must be a JSON object"),
        (b'{"inputs": []}', "needs a non-empty 'inputs' list"),
        (json_request(tensor(), tensor()), "input 'x' appears more than once"),
        (json_request(tensor(), id=5), "request 'id' must be a string"),
        (json_request(tensor(), outputs={"name": "y"}), "request 'outputs' must be a list"),
        (
            json_request(tensor(), outputs=[{"name": "y", "parameters": {"binary_data": 1}}]),
            "output 'y' parameter 'binary_data' must be true or false",
        ),
        (
            json_request(tensor(), outputs=[{"name": "y", "parameters": {"classification": 2}}]),
            "output 'y' parameter 'classification' is not supported",
        ),
        (json_request(tensor(), parameters=[1]), "request 'parameters' must be a JSON object"),
    ],
)
def test_a_bad_request_is_refused_with_a_clear_message(body: bytes, message: str) -> None:
    assert message in error_of(body)


def binary_body(
    size: int, payload: bytes, datatype: str = "FP32", shape: Any = (1, 2)
) -> tuple[bytes, int]:
    header = orjson.dumps(
        {
            "inputs": [
                {
                    "name": "x",
                    "datatype": datatype,
                    "shape": list(shape),
                    "parameters": {"binary_data_size": size},
                }
            ]
        }
    )
    return header + payload, len(header)


def test_binary_data_errors_name_the_input_and_the_sizes() -> None:
    body, n = binary_body(4, b"\0" * 4)
    assert "input 'x' has binary_data_size 4 but shape [1, 2] of FP32 needs 8 bytes" in error_of(
        body, n
    )
    body, n = binary_body(16, b"\0" * 8)
    assert "binary_data_size 16 but only 8 bytes of binary data are left" in error_of(body, n)
    body, n = binary_body(8, b"\0" * 12)
    assert (
        "carries 12 bytes of binary tensor data but its inputs' binary_data_size add up to 8"
        in error_of(body, n)
    )
    assert "Inference-Header-Content-Length 999 is outside the body" in error_of(body, 999)


def test_binary_bytes_elements_are_length_prefixed() -> None:
    raw = tensor_to_binary(np.array([b"ab", b"c"], dtype=object), "BYTES")
    assert raw == b"\x02\0\0\0ab\x01\0\0\0c"
    body, n = binary_body(len(raw), raw, "BYTES", (2,))
    np.testing.assert_array_equal(parse_infer_request(body, n).inputs[0].data, [b"ab", b"c"])
    body, n = binary_body(len(raw), raw, "BYTES", (3,))
    assert "shape [3] (3 elements) but its binary data holds 2 BYTES elements" in error_of(body, n)
    body, n = binary_body(6, b"\x09\0\0\0ab", "BYTES", (1,))
    assert "BYTES element overruns its binary_data_size" in error_of(body, n)
    body, n = binary_body(2, b"\x09\0", "BYTES", (1,))
    assert "ends inside an element's length" in error_of(body, n)


SPEC = TensorSpec("input-0", "FP64", (-1, 4))


def input_of(datatype: str, shape: tuple[int, ...]) -> InputTensor:
    return InputTensor("input-0", datatype, shape, np.zeros(shape, dtype=DATATYPES[datatype]))


def test_conform_casts_numbers_to_a_float_input() -> None:
    for datatype in ("FP32", "INT64", "UINT8", "FP64"):
        out = conform(SPEC, input_of(datatype, (3, 4)), "iris")
        assert out.dtype == np.float64
        assert out.shape == (3, 4)


def test_conform_names_the_shape_the_model_expects() -> None:
    with pytest.raises(ProtocolError) as info:
        conform(SPEC, input_of("FP64", (1, 3)), "iris")
    assert info.value.message == (
        "input 'input-0' of model 'iris' has shape [1, 3], expected [-1, 4] "
        "(4 features per row, got 3)"
    )
    with pytest.raises(ProtocolError, match=r"has shape \[4\], expected \[-1, 4\]$"):
        conform(SPEC, input_of("FP64", (4,)), "iris")


def test_conform_refuses_a_datatype_it_cannot_cast_safely() -> None:
    spec = TensorSpec("ids", "INT64", (-1,))
    with pytest.raises(
        ProtocolError, match="input 'ids' of model 'm' has datatype FP32, expected INT64"
    ):
        conform(spec, InputTensor("ids", "FP32", (2,), np.zeros(2, np.float32)), "m")
    with pytest.raises(ProtocolError, match="has datatype BYTES, expected FP64"):
        conform(SPEC, InputTensor("input-0", "BYTES", (1, 4), np.zeros((1, 4), object)), "m")


def test_datatype_of_maps_numpy_dtypes() -> None:
    assert datatype_of(np.zeros(1, dtype=">f4")) == "FP32"
    assert datatype_of(np.array(["a"])) == "BYTES"
    with pytest.raises(ValueError, match="complex128 has no Open Inference Protocol datatype"):
        datatype_of(np.zeros(1, dtype=np.complex128))


def test_a_non_utf8_bytes_output_must_be_asked_for_as_binary() -> None:
    out = BinaryOutput("y", np.array([b"\xff"], dtype=object), False)
    with pytest.raises(ProtocolError, match="not valid UTF-8; request it with binary_data"):
        encode_infer_response("m", "1", "r", [out])


def test_public_names_are_exported() -> None:
    for name in protocol.__all__:
        assert hasattr(protocol, name)
