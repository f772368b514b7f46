#!/usr/bin/env python3
"""Turns an SSDA903-style looked-after extract into the episode records of `flourish calibrate`.

An SSDA903-style extract (the return English councils make of their looked-after children;
Scottish CLAS extracts hold the same facts under other names) comes as two tables:

  header:   CHILD, DOB, ... (one row a child; other columns ignored)
  episodes: CHILD, DECOM, PLACE, DEC, ... (one row an episode of care: its start, its
            placement code, its end, blank while it lasts; other columns ignored)

Dates are DD/MM/YYYY (or YYYY-MM-DD). Each episode becomes one record
child_id,state,start_date,end_date,date_of_birth with the state its placement code maps to.
The default map is for the looked-after states of scenarios/dundee.yaml:

  P1 (placed with parents)                          -> la_home
  U1-U3 (foster care with a relative or friend)     -> la_kinship
  U4-U6 (other foster care), A3-A6 (for adoption)   -> la_foster
  K1, K2, R1-R3, R5, S1, H5, P2, P3, Z1, T0-T4       -> la_residential

--map CODE=STATE (repeatable) changes or adds a code, for another template. A code the map does
not know is an error, with its file and line, so nothing is dropped silently. The records cover
looked-after children only: calibrate them with `--covers looked_after` (see docs/scenario.md,
"Partial coverage"). The output keeps the extract's identifiers only to join a child's
episodes; calibrate never writes them anywhere.

Usage: ssda903-to-episodes.py HEADER.csv EPISODES.csv -o OUT.csv [--map CODE=STATE ...]
Exit status 2 for bad input or usage, 0 otherwise.
"""
import argparse
import csv
import os
import re
import sys
import tempfile

DEFAULT_MAP = {"P1": "la_home"}
DEFAULT_MAP.update({c: "la_kinship" for c in ("U1", "U2", "U3")})
DEFAULT_MAP.update({c: "la_foster" for c in ("U4", "U5", "U6", "A3", "A4", "A5", "A6")})
DEFAULT_MAP.update({c: "la_residential" for c in
                    ("K1", "K2", "R1", "R2", "R3", "R5", "S1", "H5", "P2", "P3", "Z1",
                     "T0", "T1", "T2", "T3", "T4")})


class BadInput(Exception):
    pass


def iso_date(text, where, column, blank_ok=False):
    """YYYY-MM-DD from DD/MM/YYYY or YYYY-MM-DD; '' for a blank where blank_ok."""
    text = text.strip()
    if not text and blank_ok:
        return ""
    m = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", text)
    if m:
        d, mo, y = int(m.group(1)), int(m.group(2)), int(m.group(3))
    else:
        m = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", text)
        if not m:
            raise BadInput("%s: %s: expected a date DD/MM/YYYY or YYYY-MM-DD, found '%s'"
                           % (where, column, text))
        y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
    days = [31, 29 if y % 4 == 0 and (y % 100 != 0 or y % 400 == 0) else 28, 31, 30, 31, 30,
            31, 31, 30, 31, 30, 31]
    if not (1 <= mo <= 12 and 1 <= d <= days[mo - 1]):
        raise BadInput("%s: %s: '%s' is not a date" % (where, column, text))
    return "%04d-%02d-%02d" % (y, mo, d)


def read_table(path, needed):
    """The rows of a CSV table as (line, {column: value}), its columns matched without regard
    to case; BadInput when a needed column is missing."""
    try:
        f = open(path, newline="", encoding="utf-8-sig")
    except OSError as e:
        raise BadInput("%s: cannot read: %s" % (path, e.strerror))
    with f:
        reader = csv.reader(f)
        try:
            header = [h.strip().upper() for h in next(reader)]
        except StopIteration:
            raise BadInput("%s: the file is empty" % path)
        for col in needed:
            if col not in header:
                raise BadInput("%s:1: no '%s' column (found: %s)" % (path, col, ", ".join(header)))
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            yield reader.line_num, dict(zip(header, (cell.strip() for cell in row)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("header")
    ap.add_argument("episodes")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--map", action="append", default=[], metavar="CODE=STATE")
    try:
        args = ap.parse_args()
    except SystemExit as e:
        sys.exit(2 if e.code else 0)
    codes = dict(DEFAULT_MAP)
    for item in args.map:
        code, sep, state = item.partition("=")
        if not sep or not code.strip() or not state.strip():
            print("ssda903-to-episodes: --map: expected CODE=STATE, found '%s'" % item,
                  file=sys.stderr)
            sys.exit(2)
        codes[code.strip().upper()] = state.strip()
    out_real = os.path.realpath(args.output)
    if out_real in (os.path.realpath(args.header), os.path.realpath(args.episodes)):
        print("ssda903-to-episodes: -o: the output would overwrite an input", file=sys.stderr)
        sys.exit(2)
    try:
        dob = {}
        for line, row in read_table(args.header, ("CHILD", "DOB")):
            where = "%s:%d" % (args.header, line)
            if not row["CHILD"]:
                raise BadInput("%s: CHILD: the identifier is empty" % where)
            dob[row["CHILD"]] = iso_date(row["DOB"], where, "DOB", blank_ok=True)
        records = []
        for line, row in read_table(args.episodes, ("CHILD", "DECOM", "PLACE", "DEC")):
            where = "%s:%d" % (args.episodes, line)
            child, place = row["CHILD"], row["PLACE"].upper()
            if not child:
                raise BadInput("%s: CHILD: the identifier is empty" % where)
            if place not in codes:
                raise BadInput("%s: PLACE: '%s' is not a placement code the map knows (give "
                               "--map %s=STATE)" % (where, row["PLACE"], row["PLACE"] or "CODE"))
            start = iso_date(row["DECOM"], where, "DECOM")
            end = iso_date(row["DEC"], where, "DEC", blank_ok=True)
            if end and end < start:
                raise BadInput("%s: DEC: the episode ends (%s) before it starts (%s)"
                               % (where, end, start))
            records.append((child, codes[place], start, end, dob.get(child, "")))
    except BadInput as e:
        print("ssda903-to-episodes: %s" % e, file=sys.stderr)
        sys.exit(2)
    # Written beside the output and moved into place: never a half-written file.
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(out_real) or ".", prefix=".episodes-")
    try:
        with os.fdopen(fd, "w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["child_id", "state", "start_date", "end_date", "date_of_birth"])
            w.writerows(records)
        os.replace(tmp, out_real)
    except OSError as e:
        os.unlink(tmp)
        print("ssda903-to-episodes: %s: cannot write: %s" % (args.output, e.strerror),
              file=sys.stderr)
        sys.exit(1)
    missing = sum(1 for r in records if not r[4])
    print("ssda903-to-episodes: wrote %s (%d episodes of %d children%s)"
          % (args.output, len(records), len({r[0] for r in records}),
             ", %d without a date of birth in the header table" % missing if missing else ""),
          file=sys.stderr)


if __name__ == "__main__":
    main()
