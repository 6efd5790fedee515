"""GAZETTEER_WORDLISTS_DIR extends the naming-rule word lists for every check the app runs."""

from api.app import create_app
from placenames.categories import get_category
from placenames.rules import Proposal, check_text, use_extra_wordlists


def _codes(name: str) -> set[str]:
    return {f.code for f in check_text(Proposal(name=name, category=get_category("0703")))}


def test_configured_folder_adds_words(tmp_path, settings, engine):
    (tmp_path / "exaggerated.txt").write_text("# source: 本地规定 (test)\n宏图\n", encoding="utf-8")
    assert "exaggerated-word" not in _codes("宏图花园")
    try:
        create_app(settings.model_copy(update={"wordlists_dir": tmp_path}), engine)
        assert "exaggerated-word" in _codes("宏图花园")
    finally:
        use_extra_wordlists(None)
    assert "exaggerated-word" not in _codes("宏图花园")
