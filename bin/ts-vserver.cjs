#!/usr/bin/env node
require("../dist/bin/vserver.cjs");
