/* ts-oci's fast path (oci.c): start, kill and delete in C when all is as expected. */
#ifndef TSNS_OCI_H
#define TSNS_OCI_H
/* argv: the arguments after the tool's name. Exits when it did the work; returns when the Node program must. */
void tsns_oci_fast(int argc, char **argv);
#endif
