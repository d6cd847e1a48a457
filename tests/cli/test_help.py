#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""help, --help, version, and usage errors of the dispatcher; man pages match the usage texts."""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import COMMANDS, SRC, CliTest, main, run  # noqa: E402


class TestHelp(CliTest):
    def test_help_lists_commands(self):
        r = run("help")
        self.assertEqual(r.rc, 0, r)
        for c in COMMANDS:
            self.assertRegex(r.out, r"(?m)^  %s\s+\S" % c)
        self.assertEqual(r.err, "")

    def test_dash_help_equals_help(self):
        self.assertEqual(run("--help").out, run("help").out)
        self.assertEqual(run("-h").out, run("help").out)

    def test_help_cmd_equals_cmd_help(self):
        for c in COMMANDS:
            with self.subTest(cmd=c):
                a, b, h = run("help", c), run(c, "--help"), run(c, "-h")
                self.assertEqual(a.rc, 0, a)
                self.assertEqual(b.rc, 0, b)
                self.assertEqual(a.out, b.out)
                self.assertEqual(a.out, h.out)
                self.assertTrue(a.out.startswith("usage: tracesmith %s" % c), a)
                self.assertIn("-h, --help", a.out)
                self.assertEqual(a.err, "")

    def test_help_option_after_file(self):
        # --help wins wherever it is, even after positionals.
        r = run("view", "nonexistent.sbt", "--help")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.out, run("help", "view").out)

    def test_man_pages_match_usage(self):
        """Every option of a usage text is in its man page, and the man page's synopsis is the
        usage's synopsis."""
        for c in COMMANDS:
            with self.subTest(cmd=c):
                path = os.path.join(SRC, "docs", "man", "tracesmith-%s.1.md" % c)
                with open(path, encoding="utf-8") as f:
                    man = f.read()
                usage = run("help", c).out
                for sect in ("## NAME", "## SYNOPSIS", "## DESCRIPTION", "## OPTIONS",
                             "## EXIT STATUS", "## SEE ALSO"):
                    self.assertIn(sect, man)
                opts = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", usage))
                man_opts = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", man))
                self.assertLessEqual(opts, man_opts, "options missing from %s" % path)
                # Options listed in the man page's OPTIONS section exist in the usage.
                section = man.split("## OPTIONS", 1)[1].split("\n## ", 1)[0]
                listed = set(re.findall(r"(?m)^`(?:-\w`, `)?(--[a-z][a-z-]*)", section))
                self.assertLessEqual(listed, opts, "man options unknown to the usage in %s" % path)
                for o in listed:
                    self.assertIn(o, opts)
                # Short options agree.
                for short, long_ in re.findall(r"(-\w), (--[a-z-]+)", usage):
                    self.assertIn("`%s`, `%s" % (short, long_), section, path)
                # The synopsis lines of the usage appear in the man page (modulo indentation).
                syn = [l.split("tracesmith %s" % c, 1)[-1].strip()
                       for l in usage.split("\n\n")[0].splitlines()]
                self.assertTrue(syn)
                man_syn = " ".join(man.split("## SYNOPSIS", 1)[1].split("## ", 1)[0].split())
                for s in syn:
                    if s:
                        self.assertIn(s, man_syn, path)
        with open(os.path.join(SRC, "docs", "man", "tracesmith.1.md"), encoding="utf-8") as f:
            top = f.read()
        for c in COMMANDS:
            self.assertIn("tracesmith-%s(1)" % c, top)

    def test_defaults_in_man_pages(self):
        # Defaults stated in usage texts are stated the same way in the man pages.
        with open(os.path.join(SRC, "docs", "man", "tracesmith-record.1.md"), encoding="utf-8") as f:
            man = f.read()
        usage = run("help", "record").out
        for d in ("trace.sbt", "default 3", "default 16384", "1048576"):
            self.assertIn(d, usage)
            self.assertIn(d, man)


class TestVersion(CliTest):
    def test_version(self):
        r = run("version")
        self.assertEqual(r.rc, 0, r)
        self.assertRegex(r.out, r"^tracesmith \d+\.\d+\.\d+\n")
        self.assertRegex(r.out, r"(?m)^format:\s+SBT \d+\.\d+$")
        self.assertRegex(r.out, r"(?m)^features: zstd=(yes|no) libunwind=(yes|no) "
                                r"cupti=(yes|no) demangle=(yes|no)$")
        self.assertEqual(run("--version").out, r.out)
        self.assertEqual(run("-V").out, r.out)

    def test_version_rejects_arguments(self):
        self.assertUsageError(run("version", "extra"), "version")
        self.assertUsageError(run("version", "--bogus"), "version")


class TestUsageErrors(CliTest):
    def test_no_arguments(self):
        r = run()
        self.assertEqual(r.rc, 2, r)
        self.assertIn("usage: tracesmith", r.err)
        self.assertEqual(r.out, "")

    def test_unknown_command(self):
        r = run("frobnicate")
        self.assertUsageError(r, None)
        self.assertIn("unknown command 'frobnicate'", r.err)

    def test_unknown_top_option(self):
        self.assertUsageError(run("--frob"), None)

    def test_help_unknown_command(self):
        r = run("help", "frobnicate")
        self.assertUsageError(r, "help")

    def test_help_too_many(self):
        self.assertUsageError(run("help", "view", "info"), "help")

    def test_unknown_option_every_command(self):
        for c in COMMANDS:
            with self.subTest(cmd=c):
                r = run(c, "--no-such-option")
                self.assertUsageError(r, c)
                self.assertIn("unknown option '--no-such-option'", r.err)
                self.assertUsageError(run(c, "-Q"), c)

    def test_missing_file_argument(self):
        for c in ("info", "dump", "view"):
            with self.subTest(cmd=c):
                r = run(c)
                self.assertUsageError(r, c)
                self.assertIn("missing argument FILE", r.err)

    def test_extra_positional(self):
        for c in ("info", "dump", "view"):
            with self.subTest(cmd=c):
                self.assertUsageError(run(c, "a.sbt", "b.sbt"), c)

    def test_missing_option_value(self):
        self.assertUsageError(run("view", "x.sbt", "--limit"), "view")
        self.assertUsageError(run("info", "x.sbt", "--format"), "info")
        self.assertUsageError(run("record", "--simulate", "-o"), "record")

    def test_value_on_flag(self):
        self.assertUsageError(run("view", "x.sbt", "--sort=yes"), "view")


if __name__ == "__main__":
    main()
