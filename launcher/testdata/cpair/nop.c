/* The least a C program can do: exec and exit. */
int main(void) { return 0; }
