# tflint (run in the GitHub Actions workflow: tflint --chdir=terraform --init && tflint --chdir=terraform).
plugin "terraform" {
  enabled = true
  preset  = "recommended"
}
