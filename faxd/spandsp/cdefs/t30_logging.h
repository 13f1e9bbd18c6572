const char *t30_completion_code_to_str(int result);
