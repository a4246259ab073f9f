"""Export stage: trained model -> ExecuTorch `.pte` (XNNPACK), host runtime, verification."""
