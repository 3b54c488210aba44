"""Styles: A1111's styles.csv read and written, the {prompt} rule, import that merges and never overwrites."""

from __future__ import annotations

import pytest

from ldm_studio.history.styles import (
    Style,
    StylesError,
    apply_style,
    import_styles,
    merge_text,
    read_styles,
    write_styles,
)

A1111_FILE = (
    "\ufeffname,prompt,negative_prompt,description\n"  # a BOM and a column of a newer A1111
    'Cinematic,"cinematic still of {prompt}, shallow depth of field, ""film grain""","cartoon, drawing",x\n'
    '"Oil, thick","oil painting, impasto",,y\n'
    '"Two lines","first line\nsecond line","ugly"\n'
    ",orphan prompt without a name,\n"
    "\n"
    "Short\n"
)


def test_read_an_a1111_file_with_bom_quotes_extra_columns_and_short_rows(tmp_path):
    path = tmp_path / "styles.csv"
    path.write_bytes(A1111_FILE.encode("utf-8"))
    assert read_styles(path) == [
        Style(
            "Cinematic",
            'cinematic still of {prompt}, shallow depth of field, "film grain"',
            "cartoon, drawing",
        ),
        Style("Oil, thick", "oil painting, impasto", ""),
        Style("Two lines", "first line\nsecond line", "ugly"),
        Style("Short", "", ""),
    ]


def test_columns_in_another_order_and_case(tmp_path):
    path = tmp_path / "styles.csv"
    path.write_text(
        "Negative_Prompt,NAME,Prompt\nbad hands,Portrait,a portrait of {prompt}\n", encoding="utf-8"
    )
    assert read_styles(path) == [Style("Portrait", "a portrait of {prompt}", "bad hands")]


def test_write_then_read_gives_the_same_styles(tmp_path):
    styles = [Style("Q", 'say "hi", then {prompt}', "a,b"), Style("Ünïcode ✓", "line\nbreak", "")]
    path = tmp_path / "data" / "styles.csv"
    write_styles(path, styles)
    assert read_styles(path) == styles
    assert path.read_text(encoding="utf-8").splitlines()[0] == "name,prompt,negative_prompt"
    assert [p.name for p in path.parent.iterdir()] == ["styles.csv"]  # no temporary file left behind


def test_the_prompt_placeholder_rule():
    assert (
        merge_text("cinematic still of {prompt}, film grain", "a fox")
        == "cinematic still of a fox, film grain"
    )
    assert merge_text("oil painting", "a fox") == "a fox, oil painting"
    assert merge_text("oil painting", "") == "oil painting"
    assert merge_text("", "a fox ") == "a fox"
    assert apply_style(Style("S", "{prompt}, 4k", "blurry"), "a fox", "ugly") == ("a fox, 4k", "ugly, blurry")


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"prompt,negative_prompt\nx,y\n", "no “name” column"),
        (b"\xff\xfe\x00garbage", "not a text file"),
        (b"name,prompt\n\x00\x00\n", "NUL"),
    ],
)
def test_files_that_are_not_styles_files_say_why(tmp_path, content, reason):
    path = tmp_path / "other.csv"
    path.write_bytes(content)
    with pytest.raises(StylesError, match=reason):
        read_styles(path)


def test_a_missing_file_has_no_styles(tmp_path):
    assert read_styles(tmp_path / "none.csv") == []


def test_import_merges_and_never_writes_the_imported_file(tmp_path):
    ours = tmp_path / "data" / "styles.csv"
    write_styles(ours, [Style("Cinematic", "my own {prompt}", ""), Style("Mine", "mine", "")])
    theirs = tmp_path / "a1111" / "styles.csv"
    theirs.parent.mkdir()
    theirs.write_bytes(A1111_FILE.encode("utf-8"))
    before = theirs.read_bytes()
    report = import_styles(theirs, ours)
    assert theirs.read_bytes() == before
    assert report.added == ("Oil, thick", "Two lines", "Short") and report.renamed == (
        "Cinematic (imported)",
    )
    names = [s.name for s in read_styles(ours)]
    assert names == ["Cinematic", "Mine", "Cinematic (imported)", "Oil, thick", "Two lines", "Short"]
    assert read_styles(ours)[0].prompt == "my own {prompt}"  # ours of the same name is kept as it was
    again = import_styles(theirs, ours)  # importing twice adds nothing
    assert again.added == () and again.renamed == () and again.skipped == 4
    assert "0 new" in again.summary(theirs)


def test_importing_a_bad_file_writes_nothing(tmp_path):
    ours = tmp_path / "styles.csv"
    write_styles(ours, [Style("Mine", "mine", "")])
    before = ours.read_bytes()
    bad = tmp_path / "bad.csv"
    bad.write_text("prompt\nno names here\n", encoding="utf-8")
    with pytest.raises(StylesError):
        import_styles(bad, ours)
    with pytest.raises(StylesError, match="no such file"):
        import_styles(tmp_path / "gone.csv", ours)
    with pytest.raises(StylesError, match="own styles file"):
        import_styles(ours, ours)
    assert ours.read_bytes() == before
