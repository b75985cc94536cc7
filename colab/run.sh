#!/usr/bin/env bash
# The second half of `make test-colab` (the Makefile builds the venv first): point the chapters'
# install URL at this checkout, check the kernel, run the chapter tests in the Colab venv.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
venv="$root/${VENV_COLAB:-.venv-colab}"
py="$venv/bin/python"
tests=${COLAB_TESTS:-tests/test_ch_*.py}

# What the install cell's `pip install ... @ git+URL` clones: this checkout's tracked files as they
# are now (committed or not; `git stash create` records them without touching the tree), in a bare
# repository that git's url.<base>.insteadOf substitutes for URL. The cell itself runs unchanged.
repo="$venv/checkout.git"
rm -rf "$repo"
git init -q --bare "$repo"
if git rev-parse --verify -q HEAD >/dev/null 2>&1; then
  snap=$(git stash create)
  snap=${snap:-$(git rev-parse HEAD)}
  git push -q "$repo" "$snap:refs/heads/main"
  git -C "$repo" symbolic-ref HEAD refs/heads/main
else  # not a git checkout (an unpacked archive, say): commit the tree as it is, .gitignore applied
  g=(git --git-dir="$repo" --work-tree="$root" -c user.name=test-colab -c user.email=test-colab@localhost)
  "${g[@]}" add -A .
  "${g[@]}" commit -q -m "test-colab snapshot"
  snap=$(git --git-dir="$repo" rev-parse HEAD)
fi
url=$("$py" colab/check.py url)
echo "test-colab: $url -> $repo (commit $snap)"
export GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0="url.file://$repo.insteadOf" GIT_CONFIG_VALUE_0="$url"
# `!pip` / `!python` in a cell run what PATH finds, as on Colab where they are the kernel's own
export PATH="$venv/bin:$PATH" JUPYTER_PREFER_ENV_PATH=1

"$py" colab/check.py kernel   # papermill's "python3" kernel is the venv's, with google.colab imported
start=$(date +%s)
# shellcheck disable=SC2086
"$py" -m pytest -q -ra -p no:cacheprovider -p colab.pytest_colab $tests
echo "test-colab: chapter tests took $(( $(date +%s) - start )) s"
"$py" colab/check.py installed "$snap"   # and the library they ran is what the install cell installed
