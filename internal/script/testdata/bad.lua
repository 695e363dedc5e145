-- no header worth the name
return 1
