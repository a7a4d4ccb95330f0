"""AppTest: every page renders with no exception and shows what it should."""

from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]


def test_home_page_lists_every_task_and_architecture():
    from explorer.architectures import ARCHITECTURES
    from explorer.tasks import TASKS

    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert not app.exception
    assert app.title[0].value == "Seq2Seq Explorer"
    tasks_table, arch_table = app.dataframe[0].value, app.dataframe[1].value
    assert list(tasks_table["task"]) == list(TASKS)
    assert list(arch_table["architecture"]) == list(ARCHITECTURES)
