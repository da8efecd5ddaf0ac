# Sourced by the CLI tests of labels (not a test itself).
# labelled_csv FILE SEED LABEL...: 400 rows of well-separated classes in 4-D
# (class c has feature c near 3), with labels drawn in turn from LABEL...
labelled_csv() {
  local file=$1 seed=$2; shift 2
  awk -v seed="$seed" -v labels="$*" 'BEGIN { srand(seed); n = split(labels, l, " ");
    for (i = 0; i < 400; i++) { c = l[i % n + 1]; printf "%d", c;
      for (j = 0; j < 4; j++) printf ",%.4f", (j == c ? 3 : 0) + rand() - 0.5; print "" } }' > "$file"
}
