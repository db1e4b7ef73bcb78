#!/usr/bin/env node
require("../dist/bin/cgroup.cjs");
