from __future__ import annotations

from sync_helper.paths import Entry
from sync_helper.planner import plan


def f(mtime: int, size: int = 10) -> Entry:
    return Entry("f", mtime, size)


D = Entry("d", 0, 0)


def test_same_file_on_both_sides_is_in_sync() -> None:
    result = plan({"a": f(100)}, {"a": f(100)}, {}, ["a"], observed=True)
    assert result.empty and result.in_sync == {"a": f(100)}


def test_new_and_older_destination_files_are_sent() -> None:
    result = plan({"a": f(100), "b": f(200)}, {"b": f(150, 3)}, {}, ["a", "b"], observed=True)
    assert result.send == ["a", "b"] and not result.conflicts


def test_destination_unchanged_since_last_sync_is_replaced() -> None:
    result = plan({"a": f(300)}, {"a": f(100)}, {"a": f(100)}, ["a"], observed=True)
    assert result.send == ["a"]


def test_destination_edited_after_last_sync_is_a_conflict() -> None:
    result = plan({"a": f(300)}, {"a": f(200, 4)}, {"a": f(100)}, ["a"], observed=True)
    assert result.send == [] and [c.path for c in result.conflicts] == ["a"]
    assert "after the last sync" in result.conflicts[0].reason


def test_newer_destination_without_record_is_a_conflict() -> None:
    result = plan({"a": f(100)}, {"a": f(200)}, {}, ["a"], observed=True)
    assert [c.path for c in result.conflicts] == ["a"] and not result.send


def test_force_sends_conflicts() -> None:
    result = plan({"a": f(100)}, {"a": f(200)}, {}, ["a"], observed=True, force=True)
    assert result.send == ["a"] and not result.conflicts


def test_removal_seen_here_moves_the_destination_copy() -> None:
    result = plan({}, {"a": f(100)}, {"a": f(100)}, ["a"], observed=True)
    assert result.remove == ["a"]


def test_removal_seen_here_keeps_a_destination_file_never_synced() -> None:
    result = plan({}, {"a": f(100)}, {}, ["a"], observed=True)
    assert result.kept == ["a"] and not result.remove


def test_removal_of_a_file_edited_there_is_a_conflict() -> None:
    result = plan({}, {"a": f(200, 3)}, {"a": f(100)}, ["a"], observed=False)
    assert not result.remove and [c.path for c in result.conflicts] == ["a"]


def test_full_resync_keeps_destination_only_files_never_synced() -> None:
    result = plan({}, {"a": f(100)}, {}, ["a"], observed=False)
    assert result.kept == ["a"] and not result.remove


def test_full_resync_removes_what_was_synced_and_removed_here() -> None:
    result = plan({}, {"a": f(100)}, {"a": f(100)}, ["a"], observed=False)
    assert result.remove == ["a"]


def test_a_removed_folder_goes_whole_unless_something_inside_conflicts() -> None:
    there = {"d": D, "d/x": f(100), "d/e": D, "d/e/y": f(100), "d/empty": D}
    result = plan({}, there, {"d/x": f(100), "d/e/y": f(100)}, ["d"], observed=True)
    assert result.remove == ["d"]
    edited = plan({}, there, {"d/x": f(100), "d/e/y": f(50)}, ["d"], observed=False)
    assert [c.path for c in edited.conflicts] == ["d/e/y"]
    assert edited.remove == ["d/x"]


def test_gone_on_both_sides_is_forgotten() -> None:
    assert plan({}, {}, {"a": f(1)}, ["a"], observed=True).forget == {"a"}


def test_folder_against_file_is_always_a_conflict() -> None:
    result = plan({"a": D}, {"a": f(1)}, {}, ["a"], observed=True, force=True)
    assert [c.path for c in result.conflicts] == ["a"] and result.empty


def test_new_folder_is_sent_with_its_contents() -> None:
    result = plan({"d": D, "d/x": f(5)}, {}, {}, ["d"], observed=True)
    assert result.send == ["d", "d/x"]


def test_a_folder_removed_here_leaves_what_the_destination_alone_has() -> None:
    """The removal of a folder was seen here; inside it on the destination a
    file that was never synced (reported "kept" until now) stays, and so does
    the folder holding it."""
    there = {"d": D, "d/x": f(100), "d/e": D, "d/e/mine": f(100)}
    result = plan({}, there, {"d/x": f(100)}, ["d"], observed=True)
    assert result.remove == ["d/x"]
    assert result.kept == ["d/e/mine"]


def test_a_change_seen_here_in_the_second_of_the_last_push_is_sent() -> None:
    """A second write in the same second, of the same size (5060 -> 5061):
    the listings cannot tell it from what was sent; the event can.  The push
    compares content (--checksum), so a spurious event sends nothing."""
    same = f(100, 10)
    seen = plan({"sip.conf": same}, {"sip.conf": same}, {"sip.conf": same}, ["sip.conf"],
                observed=True)
    assert seen.send == ["sip.conf"] and not seen.in_sync
    # the 60 s comparison, and a file never synced, trust the listings
    full = plan({"sip.conf": same}, {"sip.conf": same}, {"sip.conf": same}, ["sip.conf"],
                observed=False)
    assert full.send == [] and "sip.conf" in full.in_sync
    unknown = plan({"sip.conf": same}, {"sip.conf": same}, {}, ["sip.conf"], observed=True)
    assert unknown.send == [] and "sip.conf" in unknown.in_sync
