#!/usr/bin/env node
import("../dist/cli/cgroup.js");
