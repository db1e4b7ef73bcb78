#!/usr/bin/env node
import("../dist/cli/chroot.js");
