"""The extractor of the deployment guide's tested commands
(tests/support/guide_commands.py), and the guide itself read through it."""

from __future__ import annotations

import pytest

from tests.support.guide_commands import Command, File, GuideError, extract, load

GUIDE = """\
Title
=====

.. code-block:: console

   [root@pbx1 ~]# shown but never run

.. tested-on: sid, bookworm
   file: pbx1:/etc/sip-ha/cluster.toml

.. code-block:: toml

   [cluster]
   nodes = ["pbx1", "pbx2"]

   [timings]

Some text.

.. tested-on: sid
   expect: * Promoted: [ pbx1 ]
   exit: 0 5
   retry: 120

.. code-block:: console

   [root@pbx1 ~]# crm_mon -1
   Cluster Summary:
     * Clone Set: pbx-asterisk-clone [pbx-asterisk] (promotable):
       * Promoted:   [ pbx1 ]
   [root@pbx2 /etc/sip-ha]# sip-ha cib diff \\
       --params /etc/sip-ha/cluster.toml
   the cluster already runs this configuration

After.
"""


def test_steps_in_order_with_nodes_output_and_options():
    file, mon, diff = extract(GUIDE, "sid")
    assert file == File("pbx1", "/etc/sip-ha/cluster.toml",
                        '[cluster]\nnodes = ["pbx1", "pbx2"]\n\n[timings]\n', 13)
    assert isinstance(mon, Command) and isinstance(diff, Command)
    assert (mon.node, mon.command, mon.line) == ("pbx1", "crm_mon -1", 27)
    assert mon.output[-1] == "    * Promoted:   [ pbx1 ]"
    assert mon.expect == ("* Promoted: [ pbx1 ]",)    # matched with spaces normalized
    assert (mon.exits, mon.retry) == (frozenset({0, 5}), 120.0)
    assert diff.node == "pbx2"
    assert diff.command == "sip-ha cib diff --params /etc/sip-ha/cluster.toml"
    assert diff.output == ("the cluster already runs this configuration",)
    assert diff.expect == ()


def test_only_the_target_s_blocks():
    (file,) = extract(GUIDE, "bookworm")
    assert isinstance(file, File)


def test_default_exit_and_retry():
    text = ".. tested-on: sid\n\n.. code-block:: console\n\n   [root@pbx1 ~]# true\n"
    (step,) = extract(text, "sid")
    assert isinstance(step, Command)
    assert (step.exits, step.retry, step.output) == (frozenset({0}), 0.0, ())


@pytest.mark.parametrize("text", ["Nothing tested\n",
                                  ".. code-block:: console\n\n   [root@pbx1 ~]# ls\n"])
def test_a_guide_without_tested_blocks_fails(text):
    with pytest.raises(GuideError, match="no block is marked"):
        extract(text, "sid")


def test_a_target_without_blocks_fails():
    with pytest.raises(GuideError, match="tested-on: trixie"):
        extract(GUIDE, "trixie")


def block(body: str, options: str = "", language: str = "console") -> str:
    indented = "".join(f"   {line}\n" for line in body.splitlines())
    return f".. tested-on: sid\n{options}\n.. code-block:: {language}\n\n{indented}"


@pytest.mark.parametrize(("text", "message"), [
    (block("$ sip-ha status"), "cannot read this prompt"),
    (block("[root@pbx1 ~]# true\n# rm -rf /srv"), "cannot read this prompt"),
    (block("[root@pbx1 ~]#"), "cannot read this prompt"),
    (block("[admin@pbx1 ~]$ sudo sip-ha status"), "cannot read this prompt"),
    (block("root@pbx1:~# sip-ha status"), "cannot read this prompt"),
    (block("some output\n[root@pbx1 ~]# true"), "output before any command"),
    (block("[root@pbx1 ~]# cat >/etc/x <<EOF\nx\nEOF"), "here-document"),
    (block("[root@pbx1 ~]# pcs resource move \\"), "continues past its block"),
    (block("[root@pbx1 ~]# true", "   expect: nowhere\n"), "not in the output"),
    (block("[root@pbx1 ~]# true", "   wait: 5\n"), "cannot read the option"),
    (block("[root@pbx1 ~]# true", "   exit: zero\n"), "exit codes"),
    (block("[root@pbx1 ~]# true", "   retry: soon\n"), "seconds"),
    (block("[root@pbx1 ~]# true", "   expect:\n"), "has no value"),
    (block("a = 1", "", "toml"), "not 'toml'"),
    (block("a = 1", "   file: /etc/x\n", "toml"), "NODE:/absolute/path"),
    (block("a = 1", "   file: pbx1:/etc/x\n   exit: 1\n", "toml"), "no other option"),
    (block("[root@pbx1 ~]# true", "   file: pbx1:/etc/x\n"), "not a console block"),
    (".. tested-on: sid\n\nSome prose instead of a block.\n", "must be followed"),
    (".. tested-on:\n\n.. code-block:: console\n\n   [root@pbx1 ~]# true\n", "names no"),
    (".. tested-on: sid\n\n.. code-block:: console\n\nNot indented.\n", "is empty"),
])
def test_what_cannot_be_read_fails_loudly_naming_the_line(text, message):
    with pytest.raises(GuideError, match=message) as caught:
        extract(text, "sid", "guide.rst")
    assert "guide.rst:" in str(caught.value)


def test_the_guide_has_tested_steps_for_the_sid_cluster():
    steps = load("sid")
    commands = [s.command for s in steps if isinstance(s, Command)]
    files = [s.path for s in steps if isinstance(s, File)]
    assert files == ["/etc/sip-ha/cluster.toml"]
    for needed in ("sip-ha cib render", "sip-ha cib diff", "sip-ha cib apply", "crm_mon -1",
                   "sip-ha status", "sip-ha failover"):
        assert any(c.startswith(needed) for c in commands), needed
    mon = next(s for s in steps if isinstance(s, Command) and s.command == "crm_mon -1")
    assert any("Promoted" in line for line in mon.expect)
    assert {s.node for s in steps} <= {"pbx1", "pbx2"}


def test_the_guide_s_parameter_file_renders_to_what_its_render_block_shows():
    """A key the parameter file does not know, or a resource the render
    block shows that the file does not make, fails here before any cluster."""
    import tomllib

    from cib_templates import params, render, validate

    steps = load("sid")
    (file,) = [s for s in steps if isinstance(s, File)]
    cib = render.render(params.parse(tomllib.loads(file.text)), validate.newest_schema())
    assert validate.relaxng_problems(cib.getroot()) == []
    text = render.to_text(cib)
    block = next(s for s in steps if isinstance(s, Command)
                 and s.command.startswith("sip-ha cib render"))
    assert [line.strip() for line in block.output] == [
        line.strip() for line in text.splitlines() if line.strip().startswith(
            ("<clone ", "<primitive "))]
