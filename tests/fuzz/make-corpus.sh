#!/usr/bin/env bash
# Remakes the seed corpora of the fuzz harnesses (tests/fuzz/corpus/) and the good tables the
# calibration harnesses pair with their input (tests/fuzz/data/), from the shipped scenarios
# and the flourish binary. Seeds are kept small: a fuzzer mutates a few bytes at a time.
#
#   bash tests/fuzz/make-corpus.sh [FLOURISH]    (default: build/flourish)
#
# fuzz_scenario: every shipped scenario, example, malformed scenario (tests/bad/) and CLI
#   fixture, and three with --set assignments after a "#--set" line.
# fuzz_episodes, fuzz_population: `flourish synth` of the semi-Markov example cut to a few
#   dozen lines, and hand-made tables of the shapes the reader accepts (byte-order mark,
#   CRLF, quoted fields, columns in another order, overlapping and open episodes) and of
#   council exports it rejects with a hint (dates day first or with a time, ';').
# fuzz_h5reader: outputs of run, expect (with and without arms and comparisons, with
#   parameter uncertainty) and sweep, for horizons of two or three steps. Each is rewritten
#   in HDF5's earliest file format, without compression, and with only the datasets and
#   attributes that `flourish summary` reads (h5py), which makes it a few kilobytes; the
#   earliest format has no checksums, so a mutated byte reaches the reader instead of failing
#   a checksum. One expect output stays as written, in the format every output has.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bin=$(realpath "${1:-$root/build/flourish}")
python=${FLOURISH_PYTHON:-/usr/bin/python3}
cd "$root"
corpus=tests/fuzz/corpus data=tests/fuzz/data
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
rm -rf "$corpus"
mkdir -p "$corpus"/fuzz_scenario "$corpus"/fuzz_episodes "$corpus"/fuzz_population \
  "$corpus"/fuzz_h5reader "$data"

# Scenarios.
for f in scenarios/*.yaml scenarios/examples/*.yaml tests/cli_fixtures/*.yaml; do
  cp "$f" "$corpus/fuzz_scenario/$(basename "$f")"
done
for f in tests/bad/*.yaml; do cp "$f" "$corpus/fuzz_scenario/bad_$(basename "$f")"; done
with_sets() { # FILE OUT SET...
  local file=$1 out=$2
  shift 2
  { cat "$file"; echo "#--set"; printf '%s\n' "$@"; } > "$corpus/fuzz_scenario/$out"
}
p=arms.community_city.interventions.community
with_sets scenarios/dundee.yaml dundee_sets.yaml "$p.escalation=0.8" "$p.decay_months=36" \
  transitions.given_as=rate
with_sets scenarios/examples/semi_markov.yaml semi_markov_sets.yaml time.horizon_steps=3 \
  'population.initial[1].count=7' states.care.cost.health=12
with_sets tests/cli_fixtures/minimal.yaml minimal_bad_sets.yaml time.horizon_steps 'nope.x[3]=1'

# Episode records and population tables.
semi=scenarios/examples/semi_markov.yaml
"$bin" synth "$semi" -o "$tmp/ep.csv" --population "$tmp/pop.csv"
head -41 "$tmp/ep.csv" > "$data/episodes.csv"
head -41 "$tmp/pop.csv" > "$data/population.csv"
cp "$data/episodes.csv" "$corpus/fuzz_episodes/synth_head.csv"
{ head -1 "$tmp/ep.csv"; awk '/,,/ && n++ < 12' "$tmp/ep.csv"; sed -n 3000,3015p "$tmp/ep.csv"; } \
  > "$corpus/fuzz_episodes/synth_open.csv"
printf '%s\r\n' $'\xEF\xBB\xBFState,Child_ID,end_date,start_date,note' \
  '"mid",A1,2016-01-01,2015-06-15,"a note, with a comma"' 'high,A1,,2016-01-01,"two' \
  'lines"' '' 'care,"B""2",2017-03-31,2015-05-01,' 'gone,"B""2",,2017-03-31,x' \
  'mid,C3,2018-02-28,2016-02-29,' > "$corpus/fuzz_episodes/shapes_crlf.csv"
printf '%s\n' child_id,state,start_date,end_date,date_of_birth,locality \
  K1,mid,2015-04-01,2015-09-01,2012-01-01,south K1,high,2015-08-01,2016-09-01,2012-01-01,south \
  K1,care,2015-08-15,,2012-01-01,south K2,low,2015-04-01,2019-01-01,2005-05-01,north \
  K2,high,2016-01-01,2016-01-02,2005-05-01,north K3,gone,2016-03-01,,2014-02-01, \
  > "$corpus/fuzz_episodes/overlaps.csv"
# Every episode closed (no open episode to cut: the first pass's cut list stays empty), one
# before birth and one child given two dates of birth.
printf '%s\n' child_id,state,start_date,end_date,date_of_birth,locality \
  'F1,mid,2016-04-01,2016-09-01,2009-01-01,north' 'F1,mid,2015-11-01,2015-12-01,2013-05-01,north' \
  'F2,care,2015-01-01,2015-06-01,2015-03-01,south' > "$corpus/fuzz_episodes/closed_only.csv"
# Shapes of council exports the reader rejects with a hint: dates day first and with a time,
# ';' after a byte-order mark, and a bad date after quoted newlines in a CRLF file; and one it
# reads: CR line ends (a classic Mac file) with a quoted line end.
printf '%s\n' child_id,state,start_date,end_date,date_of_birth,locality \
  'D1,mid,01/04/2015,1/9/2015,01/01/2012,south' 'D2,high,2015-08-01 10:30:00,,2012-01-01,north' \
  'D3,care,13/08/2015,,31/02/2012,south' 'D4,low,2015-04-01T00:00:00,2016-01-01T09:00,,north' \
  > "$corpus/fuzz_episodes/dates_day_first.csv"
printf '%s\r\n' $'\xEF\xBB\xBFchild_id;state;start_date;end_date' 'E1;mid;01.04.2015;' \
  > "$corpus/fuzz_episodes/semicolon_bom.csv"
printf '%s\r\n' child_id,note,state,start_date,end_date 'Q1,"three' lines 'of note",mid,2015-04-01,' \
  '' 'Q2,"two' 'lines",high,2015-05-01,2015-09-01' 'Q3,x,care,2015-02-30,' \
  > "$corpus/fuzz_episodes/quoted_lines_then_error.csv"
{ echo date,age,locality,count; echo 01/04/2015,0,north,150; echo 2015-04-01,1,north,140; } \
  > "$corpus/fuzz_population/dates_day_first.csv"
printf '%s\r' child_id,state,start_date,end_date,note 'M1,mid,2015-04-01,"2015-09-01",' \
  'M2,high,2015-05-01,,"a' 'note"' \
  > "$corpus/fuzz_episodes/cr_mac.csv"
cp "$data/population.csv" "$corpus/fuzz_population/synth_two_dates.csv"
{ head -1 "$tmp/pop.csv"; awk '/^2017/ && n++ < 24' "$tmp/pop.csv"; } \
  > "$corpus/fuzz_population/synth_later.csv"
{ echo date,age,count
  for d in 2015-04-01 2016-04-01; do
    for a in 0 1 2 3 4 5 6 7 8 9; do echo "$d,$a,$((150 + a * 3))"; done
  done; } > "$corpus/fuzz_population/whole_area.csv"
printf '%s\r\n' $'\xEF\xBB\xBF"Count",LOCALITY,Age,Date,source' \
  '12.5,north,0,2015-04-01,"census, mid-year"' 0,south,0,2015-04-01, '' \
  '40,"north",3,2015-04-01,x' 1e3,south,9,2016-04-01, 7,north,200,2016-04-01, \
  > "$corpus/fuzz_population/shapes_crlf.csv"

# Output files.
hiv=scenarios/examples/hiv_markov.yaml dundee=scenarios/dundee.yaml
"$bin" run "$hiv" -r 2 --set time.horizon_steps=3 -o "$tmp/run_hiv.h5" -q
"$bin" expect "$hiv" --set time.horizon_steps=3 -o "$tmp/expect_hiv.h5" >/dev/null
"$bin" run "$dundee" -r 4 --psa --psa-inner 2 --set time.horizon_steps=2 -o "$tmp/run_psa.h5" -q
"$bin" expect "$dundee" --set time.horizon_steps=2 -o "$tmp/expect_arms.h5" >/dev/null
"$bin" sweep "$hiv" --set time.horizon_steps=3 -o "$tmp/sweep_grid.h5" \
  --param discount.costs=0:0.05 --design grid --points 2 -r 2 -q
"$bin" sweep "$dundee" --set time.horizon_steps=2 -o "$tmp/sweep_lhs.h5" \
  --param discount.costs=0:0.05 --design lhs --points 3 -r 2 -q
cp "$tmp/expect_hiv.h5" "$corpus/fuzz_h5reader/expect_hiv_as_written.h5"
"$python" - "$tmp" "$corpus/fuzz_h5reader" <<'EOF'
import os, sys
import h5py
src_dir, dst_dir = sys.argv[1:3]
# What `flourish summary` reads (engine/output/summary.c, summary_sweep.c).
root_names = {"levels", "budget_holders", "states", "state_level", "parameters", "arm_names",
              "design", "values"}
arm_names = {"stocks_by_level", "costs", "qol"}
comparison_names = {"delta_costs", "cumulative_net_cost", "delta_qalys", "breakeven_step", "icer",
                    "willingness_to_pay", "net_monetary_benefit", "p_cost_effective",
                    "variance_decomposition/delta_cost_total",
                    "variance_decomposition/delta_qaly_total"}
def wanted(name, sweep):
    parts = name.split("/")
    if len(parts) == 1:
        return parts[0] in root_names
    if sweep:  # every per-point result and sensitivity measure
        return parts[0] in ("arms", "comparisons", "sensitivity")
    rest = "/".join(parts[2:])
    return ((parts[0] == "arms" and rest in arm_names) or
            (parts[0] == "comparisons" and rest in comparison_names))
for name in sorted(os.listdir(src_dir)):
    if not name.endswith(".h5"):
        continue
    with h5py.File(os.path.join(src_dir, name), "r") as f, \
         h5py.File(os.path.join(dst_dir, name), "w", libver=("v108", "latest")) as g:
        for key in ("mode", "step_months"):
            if key in f.attrs:
                g.attrs.create(key, f.attrs[key], dtype=f.attrs.get_id(key).dtype)
        sweep = f.attrs.get("mode") == b"sweep"
        def copy(path, obj):
            if isinstance(obj, h5py.Dataset) and wanted(path, sweep):
                g.create_dataset(path, data=obj[()], dtype=obj.dtype)
        f.visititems(copy)
# Damage the reader must refuse without reading past a buffer: root attributes of another
# shape or type, and a dataset whose shape is far larger than what the file stores of it.
import shutil
import numpy as np
def damaged(name, change):
    path = os.path.join(dst_dir, "damaged_" + name + ".h5")
    shutil.copy(os.path.join(dst_dir, "expect_hiv.h5"), path)
    with h5py.File(path, "a") as g:
        change(g)
def replace_attr(g, key, value, dtype=None):
    del g.attrs[key]
    g.attrs.create(key, value, dtype=dtype)
damaged("step_months_array", lambda g: replace_attr(g, "step_months", np.full(100, 12.0)))
damaged("mode_variable_length",
        lambda g: replace_attr(g, "mode", "expectation", h5py.string_dtype()))
damaged("mode_array", lambda g: replace_attr(g, "mode", np.array([b"expectation"] * 10)))
def huge_shape(g):
    del g["arms/baseline/costs"]
    g.create_dataset("arms/baseline/costs", shape=(1 << 20, 1 << 20, 3), chunks=(1, 1, 3),
                     dtype="f8")
damaged("huge_shape", huge_shape)
EOF

# The dictionary of fuzz_scenario: every key name of the schema table and every choice of an
# enumerated key, values the loader treats specially, and YAML's punctuation.
"$python" - engine/scenario/schema.c tests/fuzz/scenario.dict <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
words = set()
for path in re.findall(r'\{"([a-z_.*\[\]]+)", FL_TY_', text):
    words.update(p for p in re.split(r"[.*\[\]]+", path) if p)
for choices in re.findall(r'"([a-z_0-9]+(?:\|[a-z_0-9]+)+)"', text):
    words.update(choices.split("|"))
extra = ["rest", ".inf", "-.inf", ".nan", "true", "false", "null", "~", "1e308", "-0",
         "0x1p-1074", ": ", "- ", "{", "}", "[", "]", ", ", "\\x0A  ", "\\x0A    - ", "---", "...",
         "&a ", "*a", "<<: ", "!!str ", "'", "\\\"", "#--set\\x0A", "="]
with open(sys.argv[2], "w") as out:
    out.write("# Scenario key names and choices (engine/scenario/schema.c), special values and\n"
              "# YAML punctuation, for fuzz_scenario. Made by tests/fuzz/make-corpus.sh.\n")
    for w in sorted(words) + extra:
        out.write('"%s"\n' % w)
EOF
du -sh "$corpus"/* "$data" tests/fuzz/scenario.dict
