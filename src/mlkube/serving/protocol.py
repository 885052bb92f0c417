"""Open Inference Protocol (KServe v2 REST) tensors: datatypes, the JSON and binary codecs.

Everything here is pure: bytes in, numpy arrays and plain dataclasses out, and back. An
inference request body is either one JSON object, or (binary tensor data extension) a JSON
object of `Inference-Header-Content-Length` bytes followed by raw tensors in input order,
little-endian, row major; a BOOL element is one byte, a BYTES element is a 4-byte
little-endian length followed by its bytes. Every problem with a request raises
`ProtocolError` whose message names the input or output and what is wrong.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

__all__ = [
    "DATATYPES",
    "BinaryOutput",
    "InferRequest",
    "InputTensor",
    "ProtocolError",
    "RequestedOutput",
    "datatype_of",
    "encode_infer_response",
    "parse_infer_request",
    "tensor_to_binary",
]

DATATYPES: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype(np.uint8),
    "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32),
    "UINT64": np.dtype(np.uint64),
    "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16),
    "FP32": np.dtype(np.float32),
    "FP64": np.dtype(np.float64),
    "BYTES": np.dtype(object),
}
_BY_DTYPE = {dtype: name for name, dtype in DATATYPES.items() if name != "BYTES"}
# numpy kinds a JSON array may parse to, per datatype family ('b' bool, 'i'/'u' int, 'f' float).
_JSON_KINDS = {"BOOL": "b", "UINT": "iu", "INT": "iu", "FP": "iuf"}
_KIND_WORDS = {"b": "booleans", "i": "integers", "u": "integers", "f": "floats", "U": "strings"}
_UNSUPPORTED_PARAMETERS = ("shared_memory_region", "classification")


class ProtocolError(Exception):
    """A request the protocol refuses: `status` is the HTTP code, `message` names the problem."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(slots=True)
class InputTensor:
    """One decoded request input; `data` already has `shape` and the datatype's dtype."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    data: np.ndarray[Any, Any]


@dataclass(slots=True)
class RequestedOutput:
    """One output the client asked for, and whether it wants it as binary data."""

    name: str
    binary: bool


@dataclass(slots=True)
class InferRequest:
    """A decoded inference request; `outputs` is None when the client named none."""

    id: str | None
    inputs: list[InputTensor]
    outputs: list[RequestedOutput] | None
    binary_output: bool = False
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class BinaryOutput:
    """A response output to encode: its name, values and whether to send it as binary."""

    name: str
    data: np.ndarray[Any, Any]
    binary: bool


def datatype_of(array: np.ndarray[Any, Any]) -> str:
    """The OIP datatype carrying `array`'s dtype; strings and objects are BYTES."""
    if array.dtype.kind in "OSU":
        return "BYTES"
    name = _BY_DTYPE.get(array.dtype.newbyteorder("="))
    if name is None:
        raise ValueError(f"numpy dtype {array.dtype} has no Open Inference Protocol datatype")
    return name


def parse_infer_request(body: bytes, header_length: int | None = None) -> InferRequest:
    """Decode an inference request body; `header_length` is the JSON part's size, if binary."""
    binary = memoryview(b"")
    if header_length is not None:
        if not 0 <= header_length <= len(body):
            raise ProtocolError(
                f"Inference-Header-Content-Length {header_length} is outside the body "
                f"of {len(body)} bytes"
            )
        binary = memoryview(body)[header_length:]
        body = body[:header_length]
    doc = _load_json(body)
    parameters = _dict_field(doc, "parameters", "request")
    _refuse_unsupported(parameters, "request")
    inputs, used = _parse_inputs(doc.get("inputs"), binary)
    if used != len(binary):
        raise ProtocolError(
            f"request carries {len(binary)} bytes of binary tensor data but its inputs' "
            f"binary_data_size add up to {used}"
        )
    binary_output = _flag(parameters, "binary_data_output", "request")
    request_id = doc.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise ProtocolError("request 'id' must be a string")
    outputs = _parse_outputs(doc.get("outputs"), binary_output)
    return InferRequest(request_id, inputs, outputs, binary_output, parameters)


def encode_infer_response(
    model_name: str,
    model_version: str,
    request_id: str,
    outputs: Sequence[BinaryOutput],
) -> tuple[bytes, int | None]:
    """The response body, and the JSON part's length when any output is binary (else None)."""
    entries: list[dict[str, Any]] = []
    blobs: list[bytes] = []
    for out in outputs:
        datatype = datatype_of(out.data)
        entry: dict[str, Any] = {
            "name": out.name,
            "datatype": datatype,
            "shape": list(out.data.shape),
        }
        if out.binary:
            blob = tensor_to_binary(out.data, datatype)
            entry["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            entry["data"] = _json_data(out.data, datatype)
        entries.append(entry)
    doc = {
        "model_name": model_name,
        "model_version": model_version,
        "id": request_id,
        "outputs": entries,
    }
    header = orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY)
    if not blobs:
        return header, None
    return b"".join([header, *blobs]), len(header)


def tensor_to_binary(array: np.ndarray[Any, Any], datatype: str) -> bytes:
    """Raw little-endian row-major bytes of `array` as the binary extension lays them out."""
    if datatype == "BYTES":
        parts: list[bytes] = []
        for item in array.ravel().tolist():
            raw = item.encode() if isinstance(item, str) else bytes(item)
            parts.append(len(raw).to_bytes(4, "little"))
            parts.append(raw)
        return b"".join(parts)
    if datatype == "BOOL":
        return np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()


def _load_json(body: bytes) -> dict[str, Any]:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"malformed JSON in inference request: {exc}") from None
    if not isinstance(doc, dict):
        raise ProtocolError("inference request must be a JSON object")
    return doc


def _dict_field(doc: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = doc.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ProtocolError(f"{where} '{key}' must be a JSON object")
    return value


def _flag(parameters: dict[str, Any], key: str, where: str, default: bool = False) -> bool:
    value = parameters.get(key, default)
    if not isinstance(value, bool):
        raise ProtocolError(f"{where} parameter '{key}' must be true or false")
    return value


def _refuse_unsupported(parameters: dict[str, Any], where: str) -> None:
    for key in _UNSUPPORTED_PARAMETERS:
        if key in parameters:
            raise ProtocolError(f"{where} parameter '{key}' is not supported by this server")


def _parse_inputs(raw: Any, binary: memoryview) -> tuple[list[InputTensor], int]:
    if not isinstance(raw, list) or not raw:
        raise ProtocolError("inference request needs a non-empty 'inputs' list")
    inputs: list[InputTensor] = []
    offset = 0
    seen: set[str] = set()
    for index, item in enumerate(raw):
        tensor, size = _parse_input(item, index, binary[offset:])
        if tensor.name in seen:
            raise ProtocolError(f"input '{tensor.name}' appears more than once")
        seen.add(tensor.name)
        inputs.append(tensor)
        offset += size
    return inputs, offset


def _parse_input(item: Any, index: int, binary: memoryview) -> tuple[InputTensor, int]:
    if not isinstance(item, dict) or not isinstance(item.get("name"), str):
        raise ProtocolError(f"inputs[{index}] must be an object with a string 'name'")
    name: str = item["name"]
    datatype = item.get("datatype")
    if datatype not in DATATYPES:
        known = ", ".join(DATATYPES)
        raise ProtocolError(f"input '{name}' has unknown datatype {datatype!r}; known: {known}")
    shape = _parse_shape(item.get("shape"), name)
    count = math.prod(shape)
    parameters = _dict_field(item, "parameters", f"input '{name}'")
    _refuse_unsupported(parameters, f"input '{name}'")
    size = parameters.get("binary_data_size")
    if size is None:
        if "data" not in item:
            raise ProtocolError(f"input '{name}' has neither 'data' nor binary_data_size")
        data = _from_json(name, datatype, shape, count, item["data"])
        return InputTensor(name, datatype, shape, data), 0
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= len(binary):
        raise ProtocolError(
            f"input '{name}' has binary_data_size {size!r} but only {len(binary)} bytes "
            "of binary data are left in the body"
        )
    data = _from_binary(name, datatype, shape, count, binary[:size])
    return InputTensor(name, datatype, shape, data), size


def _parse_shape(raw: Any, name: str) -> tuple[int, ...]:
    if not isinstance(raw, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in raw
    ):
        raise ProtocolError(f"input '{name}' needs 'shape', a list of non-negative integers")
    return tuple(raw)


def _from_json(
    name: str, datatype: str, shape: tuple[int, ...], count: int, data: Any
) -> np.ndarray[Any, Any]:
    if not isinstance(data, list):
        raise ProtocolError(f"input '{name}' 'data' must be a (flat or nested) JSON array")
    try:
        raw = np.asarray(data)
    except ValueError:
        raise ProtocolError(f"input '{name}' 'data' is a ragged nested array") from None
    if raw.size != count:
        raise ProtocolError(
            f"input '{name}' has shape {list(shape)} ({count} elements) but 'data' holds {raw.size}"
        )
    if datatype == "BYTES":
        return _bytes_from_json(name, raw, shape)
    dtype = DATATYPES[datatype]
    if raw.size and raw.dtype.kind not in _JSON_KINDS[datatype.rstrip("0123456789")]:
        found = _KIND_WORDS.get(raw.dtype.kind, "mixed or non-numeric values")
        if dtype.kind not in "iu" or raw.dtype.kind not in "fO":
            raise ProtocolError(f"input '{name}' has datatype {datatype} but 'data' holds {found}")
        # numpy turns integers that share no fixed-width type (0 and 2**64-1) into floats.
        raw = np.asarray(data, dtype=object)
        if not all(type(v) is int for v in raw.flat):
            raise ProtocolError(f"input '{name}' has datatype {datatype} but 'data' holds {found}")
    if raw.size and dtype.kind in "iu":
        info = np.iinfo(dtype)
        if raw.min() < info.min or raw.max() > info.max:
            raise ProtocolError(
                f"input '{name}' holds values outside the range of {datatype} "
                f"[{info.min}, {info.max}]"
            )
    return raw.astype(dtype, copy=False).reshape(shape)


def _bytes_from_json(
    name: str, raw: np.ndarray[Any, Any], shape: tuple[int, ...]
) -> np.ndarray[Any, Any]:
    if raw.size and raw.dtype.kind != "U":
        raise ProtocolError(f"input '{name}' has datatype BYTES but 'data' is not all strings")
    out = np.empty(raw.size, dtype=object)
    out[:] = [s.encode() for s in raw.ravel().tolist()]
    return out.reshape(shape)


def _from_binary(
    name: str, datatype: str, shape: tuple[int, ...], count: int, buf: memoryview
) -> np.ndarray[Any, Any]:
    if datatype == "BYTES":
        return _bytes_from_binary(name, shape, count, buf)
    dtype = DATATYPES[datatype]
    need = count * dtype.itemsize
    if len(buf) != need:
        raise ProtocolError(
            f"input '{name}' has binary_data_size {len(buf)} but shape {list(shape)} "
            f"of {datatype} needs {need} bytes"
        )
    if datatype == "BOOL":
        return np.frombuffer(buf, dtype=np.uint8).astype(np.bool_).reshape(shape)
    return np.frombuffer(buf, dtype=dtype.newbyteorder("<")).reshape(shape)


def _bytes_from_binary(
    name: str, shape: tuple[int, ...], count: int, buf: memoryview
) -> np.ndarray[Any, Any]:
    items: list[bytes] = []
    offset = 0
    while offset < len(buf):
        if offset + 4 > len(buf):
            raise ProtocolError(f"input '{name}' BYTES data ends inside an element's length")
        size = int.from_bytes(buf[offset : offset + 4], "little")
        offset += 4
        if offset + size > len(buf):
            raise ProtocolError(f"input '{name}' BYTES element overruns its binary_data_size")
        items.append(bytes(buf[offset : offset + size]))
        offset += size
    if len(items) != count:
        raise ProtocolError(
            f"input '{name}' has shape {list(shape)} ({count} elements) "
            f"but its binary data holds {len(items)} BYTES elements"
        )
    out = np.empty(count, dtype=object)
    out[:] = items
    return out.reshape(shape)


def _parse_outputs(raw: Any, binary_output: bool) -> list[RequestedOutput] | None:
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise ProtocolError("request 'outputs' must be a list")
    outputs: list[RequestedOutput] = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise ProtocolError(f"outputs[{index}] must be an object with a string 'name'")
        where = f"output '{item['name']}'"
        parameters = _dict_field(item, "parameters", where)
        _refuse_unsupported(parameters, where)
        binary = _flag(parameters, "binary_data", where, binary_output)
        outputs.append(RequestedOutput(item["name"], binary))
    return outputs


def _json_data(array: np.ndarray[Any, Any], datatype: str) -> Any:
    if datatype == "BYTES":
        try:
            return [x.decode() if isinstance(x, bytes) else str(x) for x in array.ravel().tolist()]
        except UnicodeDecodeError:
            raise ProtocolError(
                "a BYTES output is not valid UTF-8; request it with binary_data: true"
            ) from None
    # orjson serialises native-endian C-contiguous arrays without a Python list in between.
    return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("=")).ravel()
