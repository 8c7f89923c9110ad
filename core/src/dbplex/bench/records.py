"""Record values: ``fieldcount`` fields of printable ASCII, cheap enough not to slow the client.

Values are slices of a random buffer made once per worker: a benchmark client that spends its
time generating random strings measures itself, not the database.
"""

from __future__ import annotations

import random
import string

from dbplex.bench.generators import Uniform, Zipfian
from dbplex.bench.workload import Workload

_BUFFER = 1 << 16
_PRINTABLE = (string.ascii_letters + string.digits + string.punctuation + " ").encode()
_TO_PRINTABLE = bytes(_PRINTABLE[i % len(_PRINTABLE)] for i in range(256))


class Values:
    """Field values for inserts and updates, and the field lists of reads, for one worker."""

    def __init__(self, workload: Workload, rng: random.Random) -> None:
        self._rng = rng
        self.names = workload.field_names
        self._size = max(_BUFFER, 2 * workload.fieldlength)
        self._buffer = rng.randbytes(self._size).translate(_TO_PRINTABLE).decode("ascii")
        self._length: Uniform | Zipfian | None = None
        self._fixed = workload.fieldlength
        if workload.fieldlengthdistribution == "uniform":
            self._length = Uniform(workload.minfieldlength, workload.fieldlength)
        elif workload.fieldlengthdistribution == "zipfian":
            self._length = Zipfian(workload.minfieldlength, workload.fieldlength - workload.minfieldlength + 1)
        self._write_all = workload.writeallfields
        self._read_fields: list[str] | None = None
        if workload.readallfieldsbyname:
            self._read_fields = list(self.names)
        self._read_all = workload.readallfields

    def _value(self) -> str:
        length = self._fixed if self._length is None else self._length.next(self._rng)
        start = int(self._rng.random() * (self._size - length))
        return self._buffer[start : start + length]

    def record(self) -> dict[str, str]:
        """Every field: what an insert writes."""
        return {name: self._value() for name in self.names}

    def update(self) -> dict[str, str]:
        """What an update writes: every field with ``writeallfields``, else one chosen at random."""
        if self._write_all:
            return self.record()
        return {self._field(): self._value()}

    def read_fields(self) -> list[str] | None:
        """Fields a read asks for: None (the whole record), every name, or one chosen at random."""
        if self._read_all:
            return self._read_fields
        return [self._field()]

    def _field(self) -> str:
        return self.names[int(self._rng.random() * len(self.names))]
