"""The planner: order across sources, depends_on, and the errors that name the files."""

from __future__ import annotations

from pathlib import Path

import pytest

from dbplex.migrate.errors import PlanError
from dbplex.migrate.graph import Graph
from dbplex.migrate.history import Ledger
from dbplex.migrate.naming import Ref
from dbplex.migrate.planner import plan_down, plan_up
from dbplex.migrate.validation import validate
from tests.migrate.helpers import PY_REVERSIBLE, ledger, read, row, write

SQL = "CREATE TABLE t (id int);\n-- dbplex:down\nDROP TABLE t;\n"


def graph_of(tmp_path: Path, files: dict[str, str]) -> Graph:
    found = read(write(tmp_path, files))
    assert found.problems == []
    return Graph(found.migrations)


def empty(*sources: str) -> dict[str, Ledger]:
    return {s: Ledger([]) for s in sources}


def refs(steps: list) -> list[str]:  # type: ignore[type-arg]
    return [str(s.migration.ref) for s in steps]


def dep(*targets: str) -> str:
    return f"depends_on = {list(targets)!r}\n" + PY_REVERSIBLE


def test_depends_on_orders_across_sources(tmp_path: Path) -> None:
    graph = graph_of(
        tmp_path,
        {
            "pg/V1__teams.sql": SQL,
            "pg/V2__games.sql": "-- dbplex: depends_on=docs:V1\n" + SQL,
            "docs/V1__calendar.py": PY_REVERSIBLE,
            "docs/V2__from_games.py": dep("pg:V2"),
            "cache/V1__warm.py": dep("docs:V2"),
        },
    )
    steps = plan_up(graph, empty("pg", "docs", "cache"), ["cache", "docs", "pg"])
    assert refs(steps) == ["docs:V1", "pg:V1", "pg:V2", "docs:V2", "cache:V1"]
    assert {s.reason for s in steps} == {"new"}


def test_repeatables_run_after_their_sources_versions_and_when_changed(tmp_path: Path) -> None:
    graph = graph_of(tmp_path, {"pg/V1__t.sql": SQL, "pg/R__views.sql": "CREATE VIEW v AS SELECT 1;\n"})
    assert refs(plan_up(graph, empty("pg"), ["pg"])) == ["pg:V1", "pg:R__views"]
    current = graph.nodes[Ref("pg", "R__views")].checksum
    applied = {
        "pg": ledger(
            row(1, "1", checksum=graph.nodes[Ref("pg", "V1")].checksum),
            row(2, None, description="views", checksum=current),
        )
    }
    assert plan_up(graph, applied, ["pg"]) == []
    changed = {
        "pg": ledger(
            row(1, "1", checksum=graph.nodes[Ref("pg", "V1")].checksum),
            row(2, None, description="views", checksum="old"),
        )
    }
    [step] = plan_up(graph, changed, ["pg"])
    assert str(step.migration.ref) == "pg:R__views" and step.reason == "changed"


def test_failed_and_interrupted_steps_are_retried(tmp_path: Path) -> None:
    graph = graph_of(tmp_path, {"docs/V1__a.py": PY_REVERSIBLE, "docs/V2__b.py": PY_REVERSIBLE})
    history = {"docs": ledger(row(1, "1"), row(2, "2", status="failed"))}
    [step] = plan_up(graph, history, ["docs"])
    assert str(step.migration.ref) == "docs:V2" and step.reason == "retry"


def test_up_to_a_target_takes_its_dependencies_along(tmp_path: Path) -> None:
    graph = graph_of(
        tmp_path,
        {
            "pg/V1__a.sql": SQL,
            "pg/V2__b.sql": "-- dbplex: depends_on=docs:V1\n" + SQL,
            "pg/V3__c.sql": SQL,
            "docs/V1__x.py": PY_REVERSIBLE,
            "docs/V2__y.py": PY_REVERSIBLE,
        },
    )
    assert refs(plan_up(graph, empty("pg", "docs"), ["docs", "pg"], Ref("pg", "V2"))) == ["docs:V1", "pg:V1", "pg:V2"]


def test_a_dependency_outside_the_selected_sources_is_an_error(tmp_path: Path) -> None:
    graph = graph_of(
        tmp_path, {"pg/V1__a.sql": "-- dbplex: depends_on=docs:V1\n" + SQL, "docs/V1__x.py": PY_REVERSIBLE}
    )
    with pytest.raises(PlanError, match=r"docs/V1__x.py is needed first but not selected; add --source docs"):
        plan_up(graph, empty("pg", "docs"), ["pg"])


def test_duplicate_versions_name_both_files(tmp_path: Path) -> None:
    write(tmp_path, {"pg/V0003__a.sql": SQL, "pg/V3__b.sql": SQL})
    graph = Graph(read(tmp_path).migrations)
    with pytest.raises(PlanError, match=r"source 'pg': duplicate version V3: .*pg/V0003__a.sql and .*pg/V3__b.sql"):
        plan_up(graph, empty("pg"), ["pg"])


def test_missing_dependency_names_the_file_and_the_ref(tmp_path: Path) -> None:
    write(tmp_path, {"pg/V1__a.sql": "-- dbplex: depends_on=docs:V7\n" + SQL, "docs/V1__x.py": dep("cache:V1")})
    with pytest.raises(PlanError) as caught:
        plan_up(Graph(read(tmp_path).migrations), empty("pg", "docs"), ["pg", "docs"])
    problems = caught.value.problems
    assert any("pg/V1__a.sql: depends_on 'docs:V7', but source 'docs' has no migration V7" in p for p in problems)
    assert any(
        "docs/V1__x.py: depends_on 'cache:V1', but there are no migrations for source 'cache'" in p for p in problems
    )


def test_cycles_are_named_with_their_files(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "pg/V1__a.sql": "-- dbplex: depends_on=docs:V2\n" + SQL,
            "docs/V1__x.py": PY_REVERSIBLE,
            "docs/V2__y.py": dep("pg:V1"),
        },
    )
    with pytest.raises(
        PlanError, match=r"dependency cycle: .*(pg/V1__a.sql -> .*docs/V2__y.py|docs/V2__y.py -> .*pg/V1__a.sql)"
    ):
        plan_up(Graph(read(tmp_path).migrations), empty("pg", "docs"), ["pg", "docs"])


def test_a_version_depending_on_a_later_one_of_its_source_is_a_cycle(tmp_path: Path) -> None:
    write(tmp_path, {"docs/V1__x.py": dep("V2"), "docs/V2__y.py": PY_REVERSIBLE})
    with pytest.raises(PlanError, match="dependency cycle"):
        plan_up(Graph(read(tmp_path).migrations), empty("docs"), ["docs"])


def test_two_heads_name_the_pending_and_the_later_applied_file(tmp_path: Path) -> None:
    graph = graph_of(
        tmp_path,
        {"docs/V1__a.py": PY_REVERSIBLE, "docs/V2__branch_a.py": PY_REVERSIBLE, "docs/V3__branch_b.py": PY_REVERSIBLE},
    )
    history = {"docs": ledger(row(1, "1"), row(2, "3"))}
    with pytest.raises(
        PlanError,
        match=r"two heads: .*docs/V2__branch_a.py is not applied, but the later .*docs/V3__branch_b.py already is",
    ):
        plan_up(graph, history, ["docs"])


def test_validate_names_an_edited_applied_file(tmp_path: Path) -> None:
    graph = graph_of(tmp_path, {"docs/V1__a.py": PY_REVERSIBLE})
    problems = validate(
        {"docs": list(graph.nodes.values())}, {"docs": ledger(row(1, "1", checksum="0" * 64))}, ["docs"]
    )
    assert len(problems) == 1 and "docs/V1__a.py changed after it was applied" in problems[0]
    assert "repair --accept-checksum docs:V1" in problems[0]


def test_validate_names_an_applied_version_whose_file_is_gone(tmp_path: Path) -> None:
    graph = graph_of(tmp_path, {"docs/V1__a.py": PY_REVERSIBLE})
    checksum = graph.nodes[Ref("docs", "V1")].checksum
    history = ledger(row(1, "1", checksum=checksum), row(2, "2", description="gone"))
    assert validate({"docs": list(graph.nodes.values())}, {"docs": history}, ["docs"]) == [
        "source 'docs': V2__gone.sql (V2) is applied but its file is missing"
    ]


def test_a_repaired_checksum_validates(tmp_path: Path) -> None:
    graph = graph_of(tmp_path, {"docs/V1__a.py": PY_REVERSIBLE})
    checksum = graph.nodes[Ref("docs", "V1")].checksum
    history = ledger(row(1, "1", checksum="old"), row(2, "1", action="repair", checksum=checksum))
    assert validate({"docs": list(graph.nodes.values())}, {"docs": history}, ["docs"]) == []


def test_down_reverts_dependents_in_other_sources_first(tmp_path: Path) -> None:
    graph = graph_of(
        tmp_path,
        {"pg/V1__a.sql": SQL, "pg/V2__b.sql": SQL, "docs/V1__x.py": dep("pg:V2"), "docs/V2__y.py": PY_REVERSIBLE},
    )
    history = {"pg": ledger(row(1, "1"), row(2, "2")), "docs": ledger(row(1, "1"), row(2, "2"))}
    steps = plan_down(graph, history, ["docs", "pg"], Ref("pg", "V1"))
    assert refs(steps) == ["docs:V2", "docs:V1", "pg:V2"] and {s.direction for s in steps} == {"down"}
    with pytest.raises(PlanError, match="depend on what is reverted but are not selected; add --source docs"):
        plan_down(graph, history, ["pg"], Ref("pg", "V1"))


def test_down_without_target_reverts_the_latest_of_one_source(tmp_path: Path) -> None:
    graph = graph_of(tmp_path, {"docs/V1__x.py": PY_REVERSIBLE, "docs/V2__y.py": PY_REVERSIBLE})
    history = {"docs": ledger(row(1, "1"), row(2, "2"))}
    assert refs(plan_down(graph, history, ["docs"])) == ["docs:V2"]
    assert refs(plan_down(graph, history, ["docs"], Ref("docs", "V0"))) == ["docs:V2", "docs:V1"]


def test_down_refuses_irreversible_migrations_naming_them(tmp_path: Path) -> None:
    graph = graph_of(
        tmp_path, {"docs/V1__x.py": PY_REVERSIBLE, "docs/V2__y.py": "irreversible = True\n\ndef up(ctx):\n    pass\n"}
    )
    history = {"docs": ledger(row(1, "1"), row(2, "2"))}
    with pytest.raises(PlanError, match=r"docs/V2__y.py is irreversible"):
        plan_down(graph, history, ["docs"], Ref("docs", "V0"))


def test_reverted_versions_are_applied_again(tmp_path: Path) -> None:
    graph = graph_of(tmp_path, {"docs/V1__x.py": PY_REVERSIBLE})
    history = {"docs": ledger(row(1, "1"), row(2, "1", action="down", status="rolled_back"))}
    [step] = plan_up(graph, history, ["docs"])
    assert step.reason == "reapply"


def test_a_baseline_counts_earlier_versions_as_applied(tmp_path: Path) -> None:
    graph = graph_of(
        tmp_path, {"docs/V1__x.py": PY_REVERSIBLE, "docs/V2__y.py": PY_REVERSIBLE, "docs/V3__z.py": PY_REVERSIBLE}
    )
    history = {"docs": ledger(row(1, "2", action="baseline", checksum=None))}
    assert refs(plan_up(graph, history, ["docs"])) == ["docs:V3"]


def test_down_to_a_version_that_does_not_exist_is_refused(tmp_path: Path) -> None:
    graph = graph_of(tmp_path, {"docs/V1__x.py": PY_REVERSIBLE, "docs/V2__y.py": PY_REVERSIBLE})
    history = {"docs": ledger(row(1, "1"), row(2, "2"))}
    with pytest.raises(PlanError, match=r"--to docs:V99: no such version in source 'docs'"):
        plan_down(graph, history, ["docs"], Ref("docs", "V99"))
    assert refs(plan_down(graph, history, ["docs"], Ref("docs", "V2"))) == []  # exists, nothing above it
    assert refs(plan_down(graph, {"docs": ledger()}, ["docs"], Ref("docs", "V0"))) == []  # V0 always exists
