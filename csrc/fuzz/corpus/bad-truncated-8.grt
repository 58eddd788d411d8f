‰GRT

