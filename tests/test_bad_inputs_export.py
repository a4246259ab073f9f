"""Bad inputs to the export stage (issue 16): output paths and names are checked before the
model is even looked for, not after minutes of lowering."""
from __future__ import annotations

import re

import pytest

from export.export_to_pte import main


@pytest.mark.parametrize("args, message", [
    (["out_dir={file}"], "out_dir .* is a file, not a folder"),
    (["out_dir={file}/models"], "out_dir .* is a file, so the folder cannot be created"),
    (["out_dir={dir}"], "output .*typing-corrector-int8.pte is a folder, not a file"),
    (["name=../escape"], "name must be a plain file name"),
    (["name=.hidden"], "name must be a plain file name"),
    (["max_steps=200"], "command-line override max_steps=200: unknown key"),
])
def test_outputs_are_checked_before_the_model(tmp_path, capsys, args, message):
    f = tmp_path / "a_file"
    f.write_text("x")
    d = tmp_path / "out"
    (d / "typing-corrector-int8.pte").mkdir(parents=True)  # a folder where the .pte goes
    argv = ["--model", str(tmp_path / "no_such_model"), "--recipe", "xnnpack-int8"]
    rc = main(argv + [a.replace("{file}", str(f)).replace("{dir}", str(d)) for a in args])
    err = capsys.readouterr().err
    assert rc == 2 and re.search(message, err), err  # not "no_such_model not found": paths first
    assert not (tmp_path / "escape-int8.pte").exists()
