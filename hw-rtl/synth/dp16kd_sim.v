// DP16KD: a behavioural simulation model of the Lattice ECP5 18 Kbit true dual-port block RAM,
// for the gate-level co-simulation of the netlist Yosys writes (synth/run.sh --netlist-only).
//
// Yosys's own ECP5 cell library declares DP16KD as a black box (no contents, outputs undriven),
// so a netlist simulated with it reads every block RAM as zeros: the table looks empty forever.
// This model is what the gate-level build uses instead; run.sh removes the black box from its
// copy of the vendor cells. Generated once from the primitive's port and parameter lists, kept
// by hand since.
//
// Modelled, as Lattice TN1264 (ECP5 Memory Usage Guide) describes the primitive and as Yosys's
// memory mapping (share/lattice/brams_map_16kd.v) drives it:
// - 1024 rows of 18 bits; INITVAL_xx holds rows 16*xx..16*xx+15, 20 bits apart (18 used).
// - Port widths 9, 18 and 36. A 36-bit port is the pseudo dual-port mode: port A writes
//   (address ADA[13:5], byte enables ADA[3:0], data {DIB, DIA}), port B reads (address ADB[13:5],
//   data {DOB, DOA}). An 18-bit port addresses AD[13:4] with byte enables AD[1:0] on writes; a
//   9-bit port addresses AD[13:3].
// - Per port, on the rising clock edge (falling with CLKxMUX "INV") when CE is high and the
//   chip selects match CSDECODE: a write (WE) stores the enabled bytes and the output register
//   follows WRITEMODE (NORMAL holds it, WRITETHROUGH takes the new word, READBEFOREWRITE the old
//   one); a read loads the word into the output register.
// - REGMODE "OUTREG" adds the output pipeline register (enabled by OCE); RST clears the output
//   registers, synchronously or asynchronously (RESETMODE), and blocks a write in sync mode.
// - Output registers start at zero, as after configuration.
// - A read of a word that the other port writes at the same edge is undefined on silicon: the
//   model returns the old word with every bit inverted, so a design that depends on it shows a
//   mismatch instead of passing by luck. (Both ports on one clock, as in this design: the model
//   compares the other port's inputs at the same edge.)
// Not modelled (the model stops with an error instead): port widths 1, 2 and 4, and any
// inverted or constant pin other than the clocks (the *MUX parameters), which Yosys never sets.
/* verilator lint_off DECLFILENAME */
/* verilator lint_off WIDTH */
/* verilator lint_off UNUSEDSIGNAL */
/* verilator lint_off UNUSEDPARAM */
/* verilator lint_off MULTIDRIVEN */
module DP16KD(
  input DIA17, DIA16, DIA15, DIA14, DIA13, DIA12, DIA11, DIA10, DIA9, DIA8, DIA7, DIA6, DIA5, DIA4, DIA3, DIA2, DIA1, DIA0,
  input ADA13, ADA12, ADA11, ADA10, ADA9, ADA8, ADA7, ADA6, ADA5, ADA4, ADA3, ADA2, ADA1, ADA0,
  input CEA, OCEA, CLKA, WEA, RSTA,
  input CSA2, CSA1, CSA0,
  output DOA17, DOA16, DOA15, DOA14, DOA13, DOA12, DOA11, DOA10, DOA9, DOA8, DOA7, DOA6, DOA5, DOA4, DOA3, DOA2, DOA1, DOA0,

  input DIB17, DIB16, DIB15, DIB14, DIB13, DIB12, DIB11, DIB10, DIB9, DIB8, DIB7, DIB6, DIB5, DIB4, DIB3, DIB2, DIB1, DIB0,
  input ADB13, ADB12, ADB11, ADB10, ADB9, ADB8, ADB7, ADB6, ADB5, ADB4, ADB3, ADB2, ADB1, ADB0,
  input CEB, OCEB, CLKB, WEB, RSTB,
  input CSB2, CSB1, CSB0,
  output DOB17, DOB16, DOB15, DOB14, DOB13, DOB12, DOB11, DOB10, DOB9, DOB8, DOB7, DOB6, DOB5, DOB4, DOB3, DOB2, DOB1, DOB0
);
	parameter DATA_WIDTH_A = 18;
	parameter DATA_WIDTH_B = 18;

	parameter REGMODE_A = "NOREG";
	parameter REGMODE_B = "NOREG";

	parameter RESETMODE = "SYNC";
	parameter ASYNC_RESET_RELEASE = "SYNC";

	parameter CSDECODE_A = "0b000";
	parameter CSDECODE_B = "0b000";

	parameter WRITEMODE_A = "NORMAL";
	parameter WRITEMODE_B = "NORMAL";

	parameter CLKAMUX = "CLKA";
	parameter CLKBMUX = "CLKB";
	parameter DIA17MUX = "DIA17";
	parameter DIA16MUX = "DIA16";
	parameter DIA15MUX = "DIA15";
	parameter DIA14MUX = "DIA14";
	parameter DIA13MUX = "DIA13";
	parameter DIA12MUX = "DIA12";
	parameter DIA11MUX = "DIA11";
	parameter DIA10MUX = "DIA10";
	parameter DIA9MUX = "DIA9";
	parameter DIA8MUX = "DIA8";
	parameter DIA7MUX = "DIA7";
	parameter DIA6MUX = "DIA6";
	parameter DIA5MUX = "DIA5";
	parameter DIA4MUX = "DIA4";
	parameter DIA3MUX = "DIA3";
	parameter DIA2MUX = "DIA2";
	parameter DIA1MUX = "DIA1";
	parameter DIA0MUX = "DIA0";
	parameter ADA13MUX = "ADA13";
	parameter ADA12MUX = "ADA12";
	parameter ADA11MUX = "ADA11";
	parameter ADA10MUX = "ADA10";
	parameter ADA9MUX = "ADA9";
	parameter ADA8MUX = "ADA8";
	parameter ADA7MUX = "ADA7";
	parameter ADA6MUX = "ADA6";
	parameter ADA5MUX = "ADA5";
	parameter ADA4MUX = "ADA4";
	parameter ADA3MUX = "ADA3";
	parameter ADA2MUX = "ADA2";
	parameter ADA1MUX = "ADA1";
	parameter ADA0MUX = "ADA0";
	parameter CEAMUX = "CEA";
	parameter OCEAMUX = "OCEA";
	parameter WEAMUX = "WEA";
	parameter RSTAMUX = "RSTA";
	parameter CSA2MUX = "CSA2";
	parameter CSA1MUX = "CSA1";
	parameter CSA0MUX = "CSA0";
	parameter DOA17MUX = "DOA17";
	parameter DOA16MUX = "DOA16";
	parameter DOA15MUX = "DOA15";
	parameter DOA14MUX = "DOA14";
	parameter DOA13MUX = "DOA13";
	parameter DOA12MUX = "DOA12";
	parameter DOA11MUX = "DOA11";
	parameter DOA10MUX = "DOA10";
	parameter DOA9MUX = "DOA9";
	parameter DOA8MUX = "DOA8";
	parameter DOA7MUX = "DOA7";
	parameter DOA6MUX = "DOA6";
	parameter DOA5MUX = "DOA5";
	parameter DOA4MUX = "DOA4";
	parameter DOA3MUX = "DOA3";
	parameter DOA2MUX = "DOA2";
	parameter DOA1MUX = "DOA1";
	parameter DOA0MUX = "DOA0";
	parameter DIB17MUX = "DIB17";
	parameter DIB16MUX = "DIB16";
	parameter DIB15MUX = "DIB15";
	parameter DIB14MUX = "DIB14";
	parameter DIB13MUX = "DIB13";
	parameter DIB12MUX = "DIB12";
	parameter DIB11MUX = "DIB11";
	parameter DIB10MUX = "DIB10";
	parameter DIB9MUX = "DIB9";
	parameter DIB8MUX = "DIB8";
	parameter DIB7MUX = "DIB7";
	parameter DIB6MUX = "DIB6";
	parameter DIB5MUX = "DIB5";
	parameter DIB4MUX = "DIB4";
	parameter DIB3MUX = "DIB3";
	parameter DIB2MUX = "DIB2";
	parameter DIB1MUX = "DIB1";
	parameter DIB0MUX = "DIB0";
	parameter ADB13MUX = "ADB13";
	parameter ADB12MUX = "ADB12";
	parameter ADB11MUX = "ADB11";
	parameter ADB10MUX = "ADB10";
	parameter ADB9MUX = "ADB9";
	parameter ADB8MUX = "ADB8";
	parameter ADB7MUX = "ADB7";
	parameter ADB6MUX = "ADB6";
	parameter ADB5MUX = "ADB5";
	parameter ADB4MUX = "ADB4";
	parameter ADB3MUX = "ADB3";
	parameter ADB2MUX = "ADB2";
	parameter ADB1MUX = "ADB1";
	parameter ADB0MUX = "ADB0";
	parameter CEBMUX = "CEB";
	parameter OCEBMUX = "OCEB";
	parameter WEBMUX = "WEB";
	parameter RSTBMUX = "RSTB";
	parameter CSB2MUX = "CSB2";
	parameter CSB1MUX = "CSB1";
	parameter CSB0MUX = "CSB0";
	parameter DOB17MUX = "DOB17";
	parameter DOB16MUX = "DOB16";
	parameter DOB15MUX = "DOB15";
	parameter DOB14MUX = "DOB14";
	parameter DOB13MUX = "DOB13";
	parameter DOB12MUX = "DOB12";
	parameter DOB11MUX = "DOB11";
	parameter DOB10MUX = "DOB10";
	parameter DOB9MUX = "DOB9";
	parameter DOB8MUX = "DOB8";
	parameter DOB7MUX = "DOB7";
	parameter DOB6MUX = "DOB6";
	parameter DOB5MUX = "DOB5";
	parameter DOB4MUX = "DOB4";
	parameter DOB3MUX = "DOB3";
	parameter DOB2MUX = "DOB2";
	parameter DOB1MUX = "DOB1";
	parameter DOB0MUX = "DOB0";

	parameter WID = 0;
	parameter GSR = "ENABLED";
	parameter INIT_DATA = "STATIC";

	parameter INITVAL_00 = 320'h0;
	parameter INITVAL_01 = 320'h0;
	parameter INITVAL_02 = 320'h0;
	parameter INITVAL_03 = 320'h0;
	parameter INITVAL_04 = 320'h0;
	parameter INITVAL_05 = 320'h0;
	parameter INITVAL_06 = 320'h0;
	parameter INITVAL_07 = 320'h0;
	parameter INITVAL_08 = 320'h0;
	parameter INITVAL_09 = 320'h0;
	parameter INITVAL_0A = 320'h0;
	parameter INITVAL_0B = 320'h0;
	parameter INITVAL_0C = 320'h0;
	parameter INITVAL_0D = 320'h0;
	parameter INITVAL_0E = 320'h0;
	parameter INITVAL_0F = 320'h0;
	parameter INITVAL_10 = 320'h0;
	parameter INITVAL_11 = 320'h0;
	parameter INITVAL_12 = 320'h0;
	parameter INITVAL_13 = 320'h0;
	parameter INITVAL_14 = 320'h0;
	parameter INITVAL_15 = 320'h0;
	parameter INITVAL_16 = 320'h0;
	parameter INITVAL_17 = 320'h0;
	parameter INITVAL_18 = 320'h0;
	parameter INITVAL_19 = 320'h0;
	parameter INITVAL_1A = 320'h0;
	parameter INITVAL_1B = 320'h0;
	parameter INITVAL_1C = 320'h0;
	parameter INITVAL_1D = 320'h0;
	parameter INITVAL_1E = 320'h0;
	parameter INITVAL_1F = 320'h0;
	parameter INITVAL_20 = 320'h0;
	parameter INITVAL_21 = 320'h0;
	parameter INITVAL_22 = 320'h0;
	parameter INITVAL_23 = 320'h0;
	parameter INITVAL_24 = 320'h0;
	parameter INITVAL_25 = 320'h0;
	parameter INITVAL_26 = 320'h0;
	parameter INITVAL_27 = 320'h0;
	parameter INITVAL_28 = 320'h0;
	parameter INITVAL_29 = 320'h0;
	parameter INITVAL_2A = 320'h0;
	parameter INITVAL_2B = 320'h0;
	parameter INITVAL_2C = 320'h0;
	parameter INITVAL_2D = 320'h0;
	parameter INITVAL_2E = 320'h0;
	parameter INITVAL_2F = 320'h0;
	parameter INITVAL_30 = 320'h0;
	parameter INITVAL_31 = 320'h0;
	parameter INITVAL_32 = 320'h0;
	parameter INITVAL_33 = 320'h0;
	parameter INITVAL_34 = 320'h0;
	parameter INITVAL_35 = 320'h0;
	parameter INITVAL_36 = 320'h0;
	parameter INITVAL_37 = 320'h0;
	parameter INITVAL_38 = 320'h0;
	parameter INITVAL_39 = 320'h0;
	parameter INITVAL_3A = 320'h0;
	parameter INITVAL_3B = 320'h0;
	parameter INITVAL_3C = 320'h0;
	parameter INITVAL_3D = 320'h0;
	parameter INITVAL_3E = 320'h0;
	parameter INITVAL_3F = 320'h0;

	// The contents, 1024 rows of 18 bits.
	reg [17:0] mem [0:1023];

	function [319:0] initval;
		input integer block;
		begin
			case (block)
				0: initval = INITVAL_00;
				1: initval = INITVAL_01;
				2: initval = INITVAL_02;
				3: initval = INITVAL_03;
				4: initval = INITVAL_04;
				5: initval = INITVAL_05;
				6: initval = INITVAL_06;
				7: initval = INITVAL_07;
				8: initval = INITVAL_08;
				9: initval = INITVAL_09;
				10: initval = INITVAL_0A;
				11: initval = INITVAL_0B;
				12: initval = INITVAL_0C;
				13: initval = INITVAL_0D;
				14: initval = INITVAL_0E;
				15: initval = INITVAL_0F;
				16: initval = INITVAL_10;
				17: initval = INITVAL_11;
				18: initval = INITVAL_12;
				19: initval = INITVAL_13;
				20: initval = INITVAL_14;
				21: initval = INITVAL_15;
				22: initval = INITVAL_16;
				23: initval = INITVAL_17;
				24: initval = INITVAL_18;
				25: initval = INITVAL_19;
				26: initval = INITVAL_1A;
				27: initval = INITVAL_1B;
				28: initval = INITVAL_1C;
				29: initval = INITVAL_1D;
				30: initval = INITVAL_1E;
				31: initval = INITVAL_1F;
				32: initval = INITVAL_20;
				33: initval = INITVAL_21;
				34: initval = INITVAL_22;
				35: initval = INITVAL_23;
				36: initval = INITVAL_24;
				37: initval = INITVAL_25;
				38: initval = INITVAL_26;
				39: initval = INITVAL_27;
				40: initval = INITVAL_28;
				41: initval = INITVAL_29;
				42: initval = INITVAL_2A;
				43: initval = INITVAL_2B;
				44: initval = INITVAL_2C;
				45: initval = INITVAL_2D;
				46: initval = INITVAL_2E;
				47: initval = INITVAL_2F;
				48: initval = INITVAL_30;
				49: initval = INITVAL_31;
				50: initval = INITVAL_32;
				51: initval = INITVAL_33;
				52: initval = INITVAL_34;
				53: initval = INITVAL_35;
				54: initval = INITVAL_36;
				55: initval = INITVAL_37;
				56: initval = INITVAL_38;
				57: initval = INITVAL_39;
				58: initval = INITVAL_3A;
				59: initval = INITVAL_3B;
				60: initval = INITVAL_3C;
				61: initval = INITVAL_3D;
				62: initval = INITVAL_3E;
				63: initval = INITVAL_3F;
				default: initval = 320'h0;
			endcase
		end
	endfunction

	integer row;
	reg [319:0] init_block;
	initial begin
		for (row = 0; row < 1024; row = row + 1) begin
			init_block = initval(row / 16);
			mem[row] = init_block[(row % 16) * 20 +: 18];
		end
	end

	// Configurations the model does not cover stop the simulation at time zero.
	function mux_default;
		input [8*8-1:0] value;
		input [8*8-1:0] pin;
		mux_default = value == pin;
	endfunction
	wire muxes_ok =
		mux_default(DIA17MUX, "DIA17")
		&& mux_default(DIA16MUX, "DIA16")
		&& mux_default(DIA15MUX, "DIA15")
		&& mux_default(DIA14MUX, "DIA14")
		&& mux_default(DIA13MUX, "DIA13")
		&& mux_default(DIA12MUX, "DIA12")
		&& mux_default(DIA11MUX, "DIA11")
		&& mux_default(DIA10MUX, "DIA10")
		&& mux_default(DIA9MUX, "DIA9")
		&& mux_default(DIA8MUX, "DIA8")
		&& mux_default(DIA7MUX, "DIA7")
		&& mux_default(DIA6MUX, "DIA6")
		&& mux_default(DIA5MUX, "DIA5")
		&& mux_default(DIA4MUX, "DIA4")
		&& mux_default(DIA3MUX, "DIA3")
		&& mux_default(DIA2MUX, "DIA2")
		&& mux_default(DIA1MUX, "DIA1")
		&& mux_default(DIA0MUX, "DIA0")
		&& mux_default(ADA13MUX, "ADA13")
		&& mux_default(ADA12MUX, "ADA12")
		&& mux_default(ADA11MUX, "ADA11")
		&& mux_default(ADA10MUX, "ADA10")
		&& mux_default(ADA9MUX, "ADA9")
		&& mux_default(ADA8MUX, "ADA8")
		&& mux_default(ADA7MUX, "ADA7")
		&& mux_default(ADA6MUX, "ADA6")
		&& mux_default(ADA5MUX, "ADA5")
		&& mux_default(ADA4MUX, "ADA4")
		&& mux_default(ADA3MUX, "ADA3")
		&& mux_default(ADA2MUX, "ADA2")
		&& mux_default(ADA1MUX, "ADA1")
		&& mux_default(ADA0MUX, "ADA0")
		&& mux_default(CEAMUX, "CEA")
		&& mux_default(OCEAMUX, "OCEA")
		&& mux_default(WEAMUX, "WEA")
		&& mux_default(RSTAMUX, "RSTA")
		&& mux_default(CSA2MUX, "CSA2")
		&& mux_default(CSA1MUX, "CSA1")
		&& mux_default(CSA0MUX, "CSA0")
		&& mux_default(DOA17MUX, "DOA17")
		&& mux_default(DOA16MUX, "DOA16")
		&& mux_default(DOA15MUX, "DOA15")
		&& mux_default(DOA14MUX, "DOA14")
		&& mux_default(DOA13MUX, "DOA13")
		&& mux_default(DOA12MUX, "DOA12")
		&& mux_default(DOA11MUX, "DOA11")
		&& mux_default(DOA10MUX, "DOA10")
		&& mux_default(DOA9MUX, "DOA9")
		&& mux_default(DOA8MUX, "DOA8")
		&& mux_default(DOA7MUX, "DOA7")
		&& mux_default(DOA6MUX, "DOA6")
		&& mux_default(DOA5MUX, "DOA5")
		&& mux_default(DOA4MUX, "DOA4")
		&& mux_default(DOA3MUX, "DOA3")
		&& mux_default(DOA2MUX, "DOA2")
		&& mux_default(DOA1MUX, "DOA1")
		&& mux_default(DOA0MUX, "DOA0")
		&& mux_default(DIB17MUX, "DIB17")
		&& mux_default(DIB16MUX, "DIB16")
		&& mux_default(DIB15MUX, "DIB15")
		&& mux_default(DIB14MUX, "DIB14")
		&& mux_default(DIB13MUX, "DIB13")
		&& mux_default(DIB12MUX, "DIB12")
		&& mux_default(DIB11MUX, "DIB11")
		&& mux_default(DIB10MUX, "DIB10")
		&& mux_default(DIB9MUX, "DIB9")
		&& mux_default(DIB8MUX, "DIB8")
		&& mux_default(DIB7MUX, "DIB7")
		&& mux_default(DIB6MUX, "DIB6")
		&& mux_default(DIB5MUX, "DIB5")
		&& mux_default(DIB4MUX, "DIB4")
		&& mux_default(DIB3MUX, "DIB3")
		&& mux_default(DIB2MUX, "DIB2")
		&& mux_default(DIB1MUX, "DIB1")
		&& mux_default(DIB0MUX, "DIB0")
		&& mux_default(ADB13MUX, "ADB13")
		&& mux_default(ADB12MUX, "ADB12")
		&& mux_default(ADB11MUX, "ADB11")
		&& mux_default(ADB10MUX, "ADB10")
		&& mux_default(ADB9MUX, "ADB9")
		&& mux_default(ADB8MUX, "ADB8")
		&& mux_default(ADB7MUX, "ADB7")
		&& mux_default(ADB6MUX, "ADB6")
		&& mux_default(ADB5MUX, "ADB5")
		&& mux_default(ADB4MUX, "ADB4")
		&& mux_default(ADB3MUX, "ADB3")
		&& mux_default(ADB2MUX, "ADB2")
		&& mux_default(ADB1MUX, "ADB1")
		&& mux_default(ADB0MUX, "ADB0")
		&& mux_default(CEBMUX, "CEB")
		&& mux_default(OCEBMUX, "OCEB")
		&& mux_default(WEBMUX, "WEB")
		&& mux_default(RSTBMUX, "RSTB")
		&& mux_default(CSB2MUX, "CSB2")
		&& mux_default(CSB1MUX, "CSB1")
		&& mux_default(CSB0MUX, "CSB0")
		&& mux_default(DOB17MUX, "DOB17")
		&& mux_default(DOB16MUX, "DOB16")
		&& mux_default(DOB15MUX, "DOB15")
		&& mux_default(DOB14MUX, "DOB14")
		&& mux_default(DOB13MUX, "DOB13")
		&& mux_default(DOB12MUX, "DOB12")
		&& mux_default(DOB11MUX, "DOB11")
		&& mux_default(DOB10MUX, "DOB10")
		&& mux_default(DOB9MUX, "DOB9")
		&& mux_default(DOB8MUX, "DOB8")
		&& mux_default(DOB7MUX, "DOB7")
		&& mux_default(DOB6MUX, "DOB6")
		&& mux_default(DOB5MUX, "DOB5")
		&& mux_default(DOB4MUX, "DOB4")
		&& mux_default(DOB3MUX, "DOB3")
		&& mux_default(DOB2MUX, "DOB2")
		&& mux_default(DOB1MUX, "DOB1")
		&& mux_default(DOB0MUX, "DOB0");
	initial begin
		if (!(DATA_WIDTH_A == 9 || DATA_WIDTH_A == 18 || DATA_WIDTH_A == 36)
		    || !(DATA_WIDTH_B == 9 || DATA_WIDTH_B == 18 || DATA_WIDTH_B == 36)
		    || (DATA_WIDTH_A == 36) != (DATA_WIDTH_B == 36)) begin
			$display("DP16KD model: port widths %0d/%0d are not modelled", DATA_WIDTH_A, DATA_WIDTH_B);
			$fatal;
		end
		if (!muxes_ok) begin
			$display("DP16KD model: an inverted or constant pin (*MUX parameter) is not modelled");
			$fatal;
		end
	end

	localparam PDP = DATA_WIDTH_A == 36;

	// CSDECODE is "0bxyz": the chip selects {CS2, CS1, CS0} that enable the port.
	wire sel_a = {CSA2, CSA1, CSA0} == {CSDECODE_A[16], CSDECODE_A[8], CSDECODE_A[0]};
	wire sel_b = {CSB2, CSB1, CSB0} == {CSDECODE_B[16], CSDECODE_B[8], CSDECODE_B[0]};

	wire clk_a = CLKAMUX == "INV" ? ~CLKA : CLKA;
	wire clk_b = CLKBMUX == "INV" ? ~CLKB : CLKB;
	wire [13:0] ad_a = {ADA13, ADA12, ADA11, ADA10, ADA9, ADA8, ADA7, ADA6, ADA5, ADA4, ADA3, ADA2, ADA1, ADA0};
	wire [13:0] ad_b = {ADB13, ADB12, ADB11, ADB10, ADB9, ADB8, ADB7, ADB6, ADB5, ADB4, ADB3, ADB2, ADB1, ADB0};
	wire [17:0] di_a = {DIA17, DIA16, DIA15, DIA14, DIA13, DIA12, DIA11, DIA10, DIA9, DIA8, DIA7, DIA6, DIA5, DIA4, DIA3, DIA2, DIA1, DIA0};
	wire [17:0] di_b = {DIB17, DIB16, DIB15, DIB14, DIB13, DIB12, DIB11, DIB10, DIB9, DIB8, DIB7, DIB6, DIB5, DIB4, DIB3, DIB2, DIB1, DIB0};

	// An access, in rows and bytes: it falls in the row pair {pair, 0}, {pair, 1} (a 36-bit
	// word is one pair), and touches the 9-bit bytes of the pair that a 4-bit mask names:
	// {row 1 high, row 1 low, row 0 high, row 0 low}.
	function [8:0] pair_of;
		input [13:0] ad;
		pair_of = ad[13:5];
	endfunction
	// The bytes a read of `width` bits at `ad` returns.
	function [3:0] read_mask;
		input [13:0] ad;
		input integer width;
		case (width)
			36: read_mask = 4'b1111;
			18: read_mask = ad[4] ? 4'b1100 : 4'b0011;
			default: read_mask = 4'b0001 << {ad[4], ad[3]};
		endcase
	endfunction
	// The bytes a write of `width` bits at `ad` stores: byte enables AD[3:0] (36 bits) or
	// AD[1:0] (18 bits); a 9-bit write stores its one byte.
	function [3:0] write_mask;
		input [13:0] ad;
		input integer width;
		case (width)
			36: write_mask = ad[3:0];
			18: write_mask = ad[4] ? {ad[1:0], 2'b00} : {2'b00, ad[1:0]};
			default: write_mask = 4'b0001 << {ad[4], ad[3]};
		endcase
	endfunction
	// A write's data in every byte position its width can take (the mask picks).
	function [35:0] spread;
		input [17:0] lo;
		input [17:0] hi;
		input integer width;
		case (width)
			36: spread = {hi, lo};
			18: spread = {lo, lo};
			default: spread = {lo[8:0], lo[8:0], lo[8:0], lo[8:0]};
		endcase
	endfunction
	// A read's data, right-aligned, from its row pair.
	function [35:0] align;
		input [35:0] word;
		input [13:0] ad;
		input integer width;
		case (width)
			36: align = word;
			18: align = {18'd0, ad[4] ? word[35:18] : word[17:0]};
			default: align = {27'd0, word[{ad[4], ad[3]} * 9 +: 9]};
		endcase
	endfunction
	// Bytes of `new_word` that `mask` enables, the rest from `old_word`.
	function [35:0] merge;
		input [35:0] old_word;
		input [35:0] new_word;
		input [3:0] mask;
		integer k;
		begin
			for (k = 0; k < 4; k = k + 1)
				merge[k*9 +: 9] = mask[k] ? new_word[k*9 +: 9] : old_word[k*9 +: 9];
		end
	endfunction

	// Port A writes (and reads, unless pseudo dual-port); port B reads (and writes, unless
	// pseudo dual-port). A synchronous reset blocks a true dual-port write.
	wire        act_a = CEA && sel_a;
	wire        act_b = CEB && sel_b;
	wire        wr_a = act_a && WEA && !(!PDP && RESETMODE == "SYNC" && RSTA);
	wire        wr_b = !PDP && act_b && WEB && !(RESETMODE == "SYNC" && RSTB);
	wire [8:0]  pair_a = pair_of(ad_a);
	wire [8:0]  pair_b = pair_of(ad_b);
	wire [3:0]  wmask_a = write_mask(ad_a, DATA_WIDTH_A);
	wire [3:0]  wmask_b = write_mask(ad_b, DATA_WIDTH_B);
	wire [35:0] wdata_a = spread(di_a, di_b, DATA_WIDTH_A);
	wire [35:0] wdata_b = spread(di_b, 18'd0, DATA_WIDTH_B);
	wire [35:0] old_a = {mem[{pair_a, 1'b1}], mem[{pair_a, 1'b0}]};
	wire [35:0] old_b = {mem[{pair_b, 1'b1}], mem[{pair_b, 1'b0}]};
	// A read of a byte the other port writes at the same edge: undefined, returned inverted.
	wire [35:0] poison_a = wr_b && pair_b == pair_a && (wmask_b & read_mask(ad_a, DATA_WIDTH_A)) != 4'd0
		? 36'hfffffffff : 36'd0;
	wire [35:0] poison_b = wr_a && pair_a == pair_b && (wmask_a & read_mask(ad_b, DATA_WIDTH_B)) != 4'd0
		? 36'hfffffffff : 36'd0;

	reg [35:0] q_a = 36'd0;
	reg [35:0] q_b = 36'd0;
	reg [35:0] out_a = 36'd0;
	reg [35:0] out_b = 36'd0;

	always @(posedge clk_a) begin
		if (wr_a) begin
			if (wmask_a[0]) mem[{pair_a, 1'b0}][8:0] <= wdata_a[8:0];
			if (wmask_a[1]) mem[{pair_a, 1'b0}][17:9] <= wdata_a[17:9];
			if (wmask_a[2]) mem[{pair_a, 1'b1}][8:0] <= wdata_a[26:18];
			if (wmask_a[3]) mem[{pair_a, 1'b1}][17:9] <= wdata_a[35:27];
		end
		if (!PDP) begin
			if (RSTA && RESETMODE == "SYNC") begin
				q_a <= 36'd0;
			end else if (act_a) begin
				if (!WEA)
					q_a <= align(old_a ^ poison_a, ad_a, DATA_WIDTH_A);
				else if (WRITEMODE_A == "WRITETHROUGH")
					q_a <= align(merge(old_a, wdata_a, wmask_a), ad_a, DATA_WIDTH_A);
				else if (WRITEMODE_A == "READBEFOREWRITE")
					q_a <= align(old_a, ad_a, DATA_WIDTH_A);
			end
			if (RSTA && RESETMODE == "SYNC") out_a <= 36'd0;
			else if (OCEA) out_a <= q_a;
		end
	end

	always @(posedge clk_b) begin
		if (wr_b) begin
			if (wmask_b[0]) mem[{pair_b, 1'b0}][8:0] <= wdata_b[8:0];
			if (wmask_b[1]) mem[{pair_b, 1'b0}][17:9] <= wdata_b[17:9];
			if (wmask_b[2]) mem[{pair_b, 1'b1}][8:0] <= wdata_b[26:18];
			if (wmask_b[3]) mem[{pair_b, 1'b1}][17:9] <= wdata_b[35:27];
		end
		if (RSTB && RESETMODE == "SYNC") begin
			q_b <= 36'd0;
		end else if (act_b) begin
			if (PDP || !WEB)
				q_b <= align(old_b ^ poison_b, ad_b, DATA_WIDTH_B);
			else if (WRITEMODE_B == "WRITETHROUGH")
				q_b <= align(merge(old_b, wdata_b, wmask_b), ad_b, DATA_WIDTH_B);
			else if (WRITEMODE_B == "READBEFOREWRITE")
				q_b <= align(old_b, ad_b, DATA_WIDTH_B);
		end
		if (RSTB && RESETMODE == "SYNC") out_b <= 36'd0;
		else if (OCEB) out_b <= q_b;
	end

	// An asynchronous reset is not modelled: stop if one is ever asserted.
	always @(posedge RSTA or posedge RSTB) begin
		if (RESETMODE == "ASYNC") begin
			$display("DP16KD model: asynchronous reset (RESETMODE ASYNC) is not modelled");
			$fatal;
		end
	end

	wire [35:0] do_a = REGMODE_A == "OUTREG" ? out_a : q_a;
	wire [35:0] do_b = REGMODE_B == "OUTREG" ? out_b : q_b;
	wire [17:0] pin_a = PDP ? do_b[17:0] : do_a[17:0];
	wire [17:0] pin_b = PDP ? do_b[35:18] : do_b[17:0];

	assign {DOA17, DOA16, DOA15, DOA14, DOA13, DOA12, DOA11, DOA10, DOA9, DOA8, DOA7, DOA6, DOA5, DOA4, DOA3, DOA2, DOA1, DOA0} = pin_a;
	assign {DOB17, DOB16, DOB15, DOB14, DOB13, DOB12, DOB11, DOB10, DOB9, DOB8, DOB7, DOB6, DOB5, DOB4, DOB3, DOB2, DOB1, DOB0} = pin_b;
endmodule
/* verilator lint_on MULTIDRIVEN */
/* verilator lint_on UNUSEDPARAM */
/* verilator lint_on UNUSEDSIGNAL */
/* verilator lint_on WIDTH */
/* verilator lint_on DECLFILENAME */
