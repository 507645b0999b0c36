// print.cc — textual graph dumps (used by --dump-passes and inspect).
