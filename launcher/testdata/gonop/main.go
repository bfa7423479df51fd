// Command gonop is the least a Go program can do: exec and exit. The
// benchmark times it against a C program that does the same.
package main

func main() {}
