#!/usr/bin/python3
"""damage.py SRC.h5 DIR: damaged and foreign variants of an output file for damaged_cli.sh: HDF5
files missing a dataset, an attribute or a group, with attributes or datasets of the wrong
shape, type or values, and files cut short, overwritten in 200 places, empty, or not HDF5 at
all."""
import h5py, numpy as np, shutil, sys, os
src, d = sys.argv[1], sys.argv[2]
os.makedirs(d, exist_ok=True)
def variant(name, fn):
    p = os.path.join(d, name + ".h5"); shutil.copy(src, p)
    with h5py.File(p, "r+") as f: fn(f)
variant("no_stocks_by_level", lambda f: f.__delitem__("arms/baseline/stocks_by_level"))
variant("no_levels", lambda f: f.__delitem__("levels"))
variant("no_mode", lambda f: f.attrs.__delitem__("mode"))
variant("mode_wrong", lambda f: f.attrs.__setitem__("mode", "banana"))
def shape(f):
    del f["arms/baseline/costs"]; f["arms/baseline/costs"] = np.zeros((2, 3))
variant("costs_shape", shape)
def dtype(f):
    del f["levels"]; f["levels"] = np.arange(4)
variant("levels_numbers", dtype)
def comp(f):
    del f["comparisons/community_city/icer"]
variant("no_icer", comp)
def step(f): f.attrs["step_months"] = -1.0
variant("step_negative", step)
def nan(f):
    x = f["arms/baseline/stocks_by_level"]; a = x[()].astype(float); del f["arms/baseline/stocks_by_level"]
    f["arms/baseline/stocks_by_level"] = np.full(a.shape, np.nan)
variant("stocks_nan", nan)
def noarms(f): del f["arms"]
variant("no_arms", noarms)
def empty_arm(f):
    for k in list(f["arms/baseline"].keys()): del f["arms/baseline"][k]
variant("empty_baseline", empty_arm)
def mode_replaced(value, dtype=None):
    def fn(f):
        del f.attrs["mode"]; f.attrs.create("mode", value, dtype=dtype)
    return fn
variant("mode_array", mode_replaced(np.array([b"monte_carlo"] * 10)))
variant("mode_array_variable_length",
        mode_replaced(np.array(["monte_carlo"] * 10, dtype=object), h5py.string_dtype()))
variant("mode_number", mode_replaced(3))
def costs_huge(f):  # a shape the file does not store: no buffer may be allocated for it
    del f["arms/baseline/costs"]
    f.create_dataset("arms/baseline/costs", shape=(1 << 20, 1 << 20, 3), chunks=(1, 1, 3), dtype="f8")
variant("costs_huge_shape", costs_huge)
def replaced(path, fn):  # the dataset at path made fn(its values)
    def change(f):
        a = f[path][()]; del f[path]; f[path] = fn(a)
    return change
c = "comparisons/community_city/"
variant("costs_fewer_replications", replaced("arms/baseline/costs", lambda a: a[:1]))
variant("cumulative_net_cost_short", replaced(c + "cumulative_net_cost", lambda a: a.ravel()[:1]))
variant("icer_empty", replaced(c + "icer", lambda a: a[:0]))
variant("willingness_to_pay_scalar", replaced(c + "willingness_to_pay", lambda a: a[0]))
def states_short(f):
    del f["states"]; f["states"] = np.array([b"a"])
variant("states_short", states_short)
data = open(src, "rb").read()
open(os.path.join(d, "truncated.h5"), "wb").write(data[: len(data) // 2])
open(os.path.join(d, "header_only.h5"), "wb").write(data[:2048])
b = bytearray(data); rng = np.random.default_rng(1)
for i in rng.integers(0, len(b), 200): b[i] ^= 0xFF
open(os.path.join(d, "flipped.h5"), "wb").write(bytes(b))
open(os.path.join(d, "text.h5"), "w").write("not hdf5\n")
open(os.path.join(d, "empty.h5"), "w").write("")
with h5py.File(os.path.join(d, "foreign.h5"), "w") as f: f["x"] = np.arange(3)
