#!/usr/bin/env node
require("../dist/bin/chroot.cjs");
