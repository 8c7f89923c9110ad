#!/bin/sh
# alternating rounds: async 64 coroutines, then sync 8 threads (odd), the reverse (even)
D=dbplex  # run in /tmp/asyncio2-bench; the results were copied to benchmarks/results/aio/
C="--config /tmp/asyncio2-bench/bench.toml bench run --sources pg,redis --workload c -p recordcount=2000 -p operationcount=20000 -p table=asyncio2_usertable --no-load --no-baseline --pool-size 8"
for r in 1 2 3 4; do
  if [ $((r % 2)) -eq 1 ]; then
    $D $C --async --threads 64 --out out/tp-async64-r$r.json
    $D $C --threads 8 --out out/tp-sync8-r$r.json
  else
    $D $C --threads 8 --out out/tp-sync8-r$r.json
    $D $C --async --threads 64 --out out/tp-async64-r$r.json
  fi
done
